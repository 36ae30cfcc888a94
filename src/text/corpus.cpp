#include "kdtext/text/corpus.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kdtext/error.h"

namespace kdtext::text {
namespace fs = std::filesystem;

DocMode parse_doc_mode(const std::string& name, const std::string& key) {
  if (name == "line") return DocMode::kLine;
  if (name == "paragraph") return DocMode::kParagraph;
  throw ConfigError(key + ": unknown document mode '" + name + "' (expected line or paragraph)");
}

const char* to_string(DocMode mode) { return mode == DocMode::kLine ? "line" : "paragraph"; }

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw ConfigError("inputs: no input file or directory given");
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    const fs::path p(input);
    if (!fs::exists(p, ec)) throw ConfigError("input '" + input + "': no such file or directory");
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) found.push_back(it->path());
      }
      if (ec) throw InputError("input '" + input + "': cannot list directory: " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  if (files.empty()) throw ConfigError("inputs: the given directories contain no files");
  return files;
}

CorpusReader::CorpusReader(std::vector<fs::path> files, DocMode mode)
    : files_(std::move(files)), mode_(mode) {
  uint64_t largest = 0;
  for (const auto& f : files_) {
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    if (!ec) total_bytes_ += size, largest = std::max<uint64_t>(largest, size);
  }
  // A 1 MiB read buffer, or less when every file is smaller.
  buffer_.resize(std::clamp<uint64_t>(largest + 1, 4096, 1 << 20));
}

bool CorpusReader::open_next_file() {
  if (open_) {
    in_.close();
    open_ = false;
    bytes_done_ += bytes_in_file_;
    bytes_in_file_ = 0;
  }
  if (file_index_ >= files_.size()) return false;
  const fs::path& path = files_[file_index_++];
  in_.clear();
  in_.rdbuf()->pubsetbuf(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  in_.open(path, std::ios::binary);
  if (!in_) throw InputError(path.string() + ": cannot open for reading: " + std::strerror(errno));
  open_ = true;
  line_no_ = 0;
  return true;
}

bool CorpusReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) throw InputError(files_[file_index_ - 1].string() + ": read error");
    return false;
  }
  bytes_in_file_ += line.size() + 1;
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_no_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

bool CorpusReader::next(Document& doc) {
  std::string line;
  doc.text.clear();
  while (true) {
    if (!open_ && !open_next_file()) return false;
    if (mode_ == DocMode::kLine) {
      if (read_line(line)) {
        doc.text = std::move(line);
        doc.file = files_[file_index_ - 1].string();
        doc.line = line_no_;
        return true;
      }
    } else {
      bool have = false;
      while (read_line(line)) {
        const bool blank = line.find_first_not_of(" \t") == std::string::npos;
        if (blank) {
          if (have) return true;
          continue;
        }
        if (!have) {
          have = true;
          doc.file = files_[file_index_ - 1].string();
          doc.line = line_no_;
        } else {
          doc.text.push_back('\n');
        }
        doc.text += line;
      }
      if (have) return true;
    }
    open_next_file();  // end of this file: advance (returns false at the end)
    if (!open_) return false;
  }
}

}  // namespace kdtext::text
