// Streaming reader over an unlabelled corpus: files or directories, one
// document per line or per blank-line-separated paragraph. Memory use is one
// document at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kdtext::text {

enum class DocMode { kLine, kParagraph };
DocMode parse_doc_mode(const std::string& name, const std::string& key);
const char* to_string(DocMode mode);

// Expands directories (recursively, sorted, regular files only, hidden files
// skipped). Throws ConfigError naming a path that does not exist, or when no
// file is found.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs);

struct Document {
  std::string text;      // raw bytes, line ends removed (paragraph lines joined by '\n')
  std::string file;      // source file
  uint64_t line = 0;     // first line of the document (1-based)
};

class CorpusReader {
 public:
  CorpusReader(std::vector<std::filesystem::path> files, DocMode mode);
  // Fills `doc` with the next document; false at the end of the corpus.
  // Throws InputError naming the file if it cannot be read.
  bool next(Document& doc);
  // Bytes consumed so far, and the total size of all files (for progress).
  uint64_t bytes_read() const { return bytes_done_ + bytes_in_file_; }
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  bool open_next_file();
  bool read_line(std::string& line);

  std::vector<std::filesystem::path> files_;
  DocMode mode_;
  size_t file_index_ = 0;
  std::ifstream in_;
  std::vector<char> buffer_;
  uint64_t line_no_ = 0;
  uint64_t bytes_done_ = 0;
  uint64_t bytes_in_file_ = 0;
  uint64_t total_bytes_ = 0;
  bool open_ = false;
};

}  // namespace kdtext::text
