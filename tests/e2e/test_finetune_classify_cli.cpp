// kdtext-finetune and kdtext-classify as a user runs them, on the task in data/.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

#include "e2e/pipeline_fixture.h"


TEST(FinetuneCli, ReachesHighAccuracyOnTheDataTask) {
  auto& p = pipeline();
  const Json m = read_json_file(p.ft / "metrics.json");
  EXPECT_GE(m["dev"]["accuracy"].get<double>(), 0.9) << m.dump(2);
  EXPECT_GE(m["test"]["accuracy"].get<double>(), 0.9) << m.dump(2);
  EXPECT_EQ(m["dev"]["labels"], (Json{"computing", "cooking", "sports"}));
  EXPECT_TRUE(fs::exists(p.ft / "best" / "kdtext.json"));
  EXPECT_EQ(read_json_file(p.ft / "best" / "kdtext.json")["labels"], m["dev"]["labels"]);
  EXPECT_NE(p.finetune_output.find("confusion matrix"), std::string::npos);
}

TEST(ClassifyCli, OutputKeepsInputOrderUnderLengthSorting) {
  auto& p = pipeline();
  TempDir dir;
  // Lines of very different lengths, classified in one sorted batch run and one at a time.
  std::string text;
  const char* lines[] = {"The chef baked bread.",
                         "The programmer debugged the source code after the latest software update on a machine "
                         "with sixteen cores while the users were asleep.",
                         "Goal!",
                         "The swimmer won the final of the relay race with a record time."};
  for (const char* l : lines) text += std::string(l) + "\n";
  write_file(dir / "in.txt", text);
  auto batched = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote((dir / "in.txt").string()) +
                                      " --format lines --batch-size 8 --all-probs --quiet"));
  ASSERT_EQ(batched.exit_code, 0) << batched.output;
  std::istringstream rows(batched.output);
  std::string header, row;
  std::getline(rows, header);
  EXPECT_EQ(header.rfind("label\tprobability", 0), 0u) << header;
  int i = 0;
  while (std::getline(rows, row)) {
    write_file(dir / "one.txt", std::string(lines[i]) + "\n");
    auto single = run_command(classify("-m " + quote((p.ft / "best").string()) + " " +
                                       quote((dir / "one.txt").string()) + " --format lines --all-probs --quiet"));
    ASSERT_EQ(single.exit_code, 0) << single.output;
    const std::string expected = single.output.substr(single.output.find('\n') + 1);
    // Same label; probabilities agree to the printed precision (padding does not change results).
    EXPECT_EQ(row.substr(0, row.find('\t')), expected.substr(0, expected.find('\t'))) << lines[i];
    ++i;
  }
  EXPECT_EQ(i, 4);
}

TEST(ClassifyCli, EvalStdinJsonlAndTopK) {
  auto& p = pipeline();
  TempDir dir;
  const auto test = source_dir() / "data" / "task" / "test.tsv";
  auto r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote(test.string()) + " --eval -o " +
                                quote((dir / "pred.tsv").string()) + " --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json m = read_json_file(dir / "pred.tsv.metrics.json");
  EXPECT_EQ(m["examples"], 150);
  EXPECT_GE(m["accuracy"].get<double>(), 0.9);
  EXPECT_EQ(m["confusion_matrix"].size(), 3u);
  // A test sentence on standard input, as JSON lines: the label the file run gave it, and its top two.
  std::istringstream rows(read_file(test));
  std::string line;
  std::getline(rows, line);  // header
  std::getline(rows, line);
  const std::string text = line.substr(line.find('\t') + 1);
  write_file(dir / "one.txt", text + "\n");
  std::string predicted;
  std::istringstream pred(read_file(dir / "pred.tsv"));
  std::getline(pred, predicted);
  std::getline(pred, predicted);  // the first test row's prediction
  r = run_command(classify("-m " + quote((p.ft / "best").string()) + " --output-format jsonl --top-k 2 --quiet < " +
                           quote((dir / "one.txt").string())));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_EQ(j["label"], predicted.substr(0, predicted.find('\t'))) << text;
  EXPECT_EQ(j["top_k"].size(), 2u);
  EXPECT_GE(j["top_k"][0]["probability"].get<double>(), j["top_k"][1]["probability"].get<double>());
}

// Each precision classifies the task's test set about as well as fp32 (the
// numerics are checked in test_engine.cpp); its metrics record it; an
// unknown precision is refused naming the key, with nothing written.
TEST(ClassifyCli, PrecisionsKeepAccuracyAndUnknownOnesAreRefused) {
  auto& p = pipeline();
  TempDir dir;
  const auto test = source_dir() / "data" / "task" / "test.tsv";
  std::map<std::string, double> accuracy;
  for (const std::string precision : {"fp32", "int8", "bf16"}) {
    const auto out = dir / (precision + ".tsv");
    auto r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote(test.string()) +
                                  " --eval --quiet --precision " + precision + " -o " + quote(out.string())));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Json m = read_json_file(out.string() + ".metrics.json");
    accuracy[precision] = m["accuracy"].get<double>();
    EXPECT_EQ(m["precision"], precision);
  }
  EXPECT_GE(accuracy["fp32"], 0.9);
  EXPECT_NEAR(accuracy["int8"], accuracy["fp32"], 0.03);
  EXPECT_NEAR(accuracy["bf16"], accuracy["fp32"], 0.03);
  auto r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote(test.string()) +
                                " --precision fp16 -o " + quote((dir / "x.tsv").string())));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("precision must be fp32, bf16, int8 or auto, got 'fp16'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "x.tsv"));
}

// $KDTEXT_CACHE/precision is kdtext's own place: a link planted at an entry is
// replaced, never written through; a FIFO there does not hang the run; an
// entry naming a precision the model does not offer is measured again.
TEST(ClassifyCli, PrecisionCacheEntriesAreNeverFollowedNorTrustedBeyondTheModel) {
  auto& p = pipeline();
  TempDir dir;
  const auto test = source_dir() / "data" / "task" / "test.tsv";
  const std::string env = "KDTEXT_CACHE=" + quote((dir / "cache").string()) + " ";
  const auto run = [&](const fs::path& model) {
    return run_command("timeout 300 env " + env + classify("-m " + quote(model.string()) + " " + quote(test.string()) +
                                                           " --precision auto --threads 1 -o " +
                                                           quote((dir / "p.tsv").string())));
  };
  const auto entry = [&] {
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(dir / "cache" / "precision")) all.push_back(e.path());
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? fs::path() : all[0];
  };
  auto r = run(p.ft / "best");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path file = entry();
  write_file(dir / "precious.txt", "a file the cache must never touch\n");
  fs::remove(file);
  fs::create_symlink(dir / "precious.txt", file);
  r = run(p.ft / "best");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("measured the precisions in"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "precious.txt"), "a file the cache must never touch\n");
  EXPECT_FALSE(fs::is_symlink(file));
  EXPECT_TRUE(read_json_file(file).contains("measured"));
  fs::remove(file);
  ASSERT_EQ(::mkfifo(file.c_str(), 0644), 0);
  r = run(p.ft / "best");  // a hang would end in timeout's 124
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(file));

  // A bilstm offers fp32 alone: an entry claiming int8 for it is not a measurement of it.
  r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                  " --arch bilstm --embedding 16 --sentence-hidden 8 --quiet -o " + quote((dir / "lstm").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::remove_all(dir / "cache");
  r = run(dir / "lstm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path lstm_entry = entry();
  Json claimed = read_json_file(lstm_entry);
  claimed["measured"].push_back({{"precision", "int8"}, {"seconds", 1e-6}, {"agreement", 1.0}});
  write_file(lstm_entry, claimed.dump());
  r = run(dir / "lstm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("unreadable precision measurement (int8 is not offered by this model); measuring again"),
            std::string::npos) << r.output;
  EXPECT_EQ(read_json_file(lstm_entry)["measured"].size(), 1u);
}

// --precision auto: measured at load (logged with the figures), cached under
// $KDTEXT_CACHE/precision (read back by the next run), recorded in the
// metrics and timings with the CPU; its labels keep the bound on the task.
TEST(ClassifyCli, PrecisionAutoMeasuresOnceAndRecordsItsChoice) {
  auto& p = pipeline();
  TempDir dir;
  const auto test = source_dir() / "data" / "task" / "test.tsv";
  const std::string env = "KDTEXT_CACHE=" + quote((dir / "cache").string()) + " ";
  const auto run = [&](const std::string& precision, const std::string& name) {
    return run_command(env + classify("-m " + quote((p.ft / "best").string()) + " " + quote(test.string()) +
                                      " --eval --precision " + precision + " --timings " +
                                      quote((dir / (name + ".json")).string()) + " -o " +
                                      quote((dir / (name + ".tsv")).string())));
  };
  const auto first = run("auto", "a1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("measured the precisions in"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("precision auto chose"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("rows of the input"), std::string::npos) << first.output;  // labels on its text
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "cache" / "precision"), {}), 1);
  const auto second = run("auto", "a2");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(second.output.find("measured the precisions in"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("measured earlier"), std::string::npos) << second.output;
  const Json m1 = read_json_file((dir / "a1.tsv").string() + ".metrics.json");
  const Json m2 = read_json_file((dir / "a2.tsv").string() + ".metrics.json");
  EXPECT_EQ(m1["precision_requested"], "auto");
  const auto chosen = m1["precision"].get<std::string>();
  EXPECT_TRUE(chosen == "fp32" || chosen == "bf16" || chosen == "int8") << chosen;
  EXPECT_EQ(m2["precision"], m1["precision"]);
  ASSERT_EQ(m1["precision_measured"].size(), 3u);
  EXPECT_EQ(m1["precision_measured"][0]["precision"], "fp32");
  EXPECT_FALSE(m1["precision_reason"].get<std::string>().empty());
  const Json t = read_json_file((dir / "a1.json").string());
  EXPECT_EQ(t["precision"], m1["precision"]);
  EXPECT_FALSE(t["cpu"]["model"].get<std::string>().empty());
  EXPECT_TRUE(t["cpu"]["flags"].is_array());
  // Its labels against fp32's on the task's test set.
  ASSERT_EQ(run("fp32", "f").exit_code, 0);
  const auto labels = [](const fs::path& f) {
    std::vector<std::string> out;
    std::istringstream in(read_file(f));
    for (std::string line; std::getline(in, line);) out.push_back(line.substr(0, line.find('\t')));
    return out;
  };
  const auto a = labels(dir / "a1.tsv"), f = labels(dir / "f.tsv");
  ASSERT_EQ(a.size(), f.size());
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == f[i];
  EXPECT_GE(static_cast<double>(same) / a.size(), 0.95);
}

// With every core kept busy by other processes, classify runs one intra-op
// thread instead of the two requested and says so; --no-adaptive-threads keeps two.
TEST(ClassifyCli, GivesUpThreadsToABusyMachineAndSaysSo) {
  auto& p = pipeline();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::string spin;  // `cores` busy loops in a process group of their own
  for (unsigned i = 0; i < cores; ++i) spin += "(while :; do :; done) & ";
  const pid_t busy = ::fork();
  if (busy == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", (spin + "wait").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(busy, busy);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string cmd = classify("-m " + quote((p.ft / "best").string()) + " " +
                                   quote((source_dir() / "data" / "task" / "test.tsv").string()) + " --threads 2");
  const auto loaded = run_command(cmd);
  const auto fixed = run_command(cmd + " --no-adaptive-threads");
  ::kill(-busy, SIGKILL);
  ::waitpid(busy, nullptr, 0);
  ASSERT_EQ(loaded.exit_code, 0) << loaded.output;
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_NE(loaded.output.find("1 intra-op thread(s) of the 2 requested"), std::string::npos) << loaded.output;
  EXPECT_EQ(fixed.output.find("intra-op thread"), std::string::npos) << fixed.output;
}

TEST(ClassifyCli, BadInputsGiveClearErrors) {
  auto& p = pipeline();
  TempDir dir;
  // A checkpoint without a classification head.
  auto r = run_command(classify("-m " + quote((p.mlm / "final").string()) + " " +
                                quote((source_dir() / "data" / "task" / "dev.tsv").string())));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no classification head"), std::string::npos) << r.output;
  // An unknown gold label names file and line.
  write_file(dir / "dev.tsv", "label\ttext\nsports\tGoal!\nweather\tIt rained.\n");
  r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote((dir / "dev.tsv").string()) +
                           " --eval -o " + quote((dir / "o.tsv").string())));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("dev.tsv:3: unknown label 'weather'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.tsv"));
  // A malformed line in fine-tuning data.
  write_file(dir / "train.tsv", "label\ttext\nsports\tGoal!\nno tab here\ncooking\tSoup.\n");
  r = run_command(bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + " --train " +
                  quote((dir / "train.tsv").string()) + " --dev " + quote((dir / "train.tsv").string()) + " -o " +
                  quote((dir / "ft").string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("train.tsv:3: expected 2 fields, found 1"), std::string::npos) << r.output;
}

// A batch job split with --stop-at-step before the first evaluation: the stop succeeds and
// leaves a resumable checkpoint but no metrics.json (which marks a finished run), no best/ and
// no final/; --resume finishes it exactly like a straight run. Fine-tuning and task distillation.
TEST(FinetuneCli, StopBeforeTheFirstEvaluationThenResume) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const std::string files = " --train " + quote((data / "train.tsv").string()) + " --dev " +
                            quote((data / "dev.tsv").string()) + " --max-steps 6 --batch-size 16 --max-len 48" +
                            " --threads 1 --quiet";
  const std::string finetune = bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + files;
  const std::string distill = bin("kdtext-distill") + " --teacher " + quote((p.ft / "best").string()) +
                              " --student " + quote((p.ft / "best").string()) + files;
  for (const auto& [name, cmd] : {std::pair<std::string, std::string>{"ft", finetune}, {"kd", distill}}) {
    auto r = run_command(cmd + " -o " + quote((dir / (name + "-straight")).string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const fs::path split = dir / (name + "-split");
    r = run_command(cmd + " -o " + quote(split.string()) + " --stop-at-step 3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_FALSE(fs::exists(split / "metrics.json")) << name;
    EXPECT_FALSE(fs::exists(split / "best")) << name;
    EXPECT_FALSE(fs::exists(split / "final")) << name;
    EXPECT_TRUE(fs::exists(split / "checkpoints" / "step-00000003")) << name;
    // The final report's precision changes nothing the run trains: resumed without --accept-changes.
    r = run_command(cmd + " -o " + quote(split.string()) + " --resume --eval-precision int8");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(split / "metrics.json")) << name;
    EXPECT_EQ(read_json_file(split / "metrics.json")["precision"], "int8") << name;
    EXPECT_EQ(read_file(split / "final" / "model.safetensors"),
              read_file(dir / (name + "-straight") / "final" / "model.safetensors"))
        << name;
  }
}

namespace {

// A command under sh with a pipe into its standard input and one out of its
// standard output (standard error goes to the test's).
struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;
  explicit Child(const std::string& command) {
    int to[2], from[2];
    if (::pipe(to) != 0 || ::pipe(from) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::dup2(to[0], 0);
      ::dup2(from[1], 1);
      ::close(to[1]);
      ::close(from[0]);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to[0]);
    ::close(from[1]);
    in = to[1];
    out = from[0];
  }
  void write(const std::string& s) { ASSERT_EQ(::write(in, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void close_input() { ::close(in); }
  // Reads until `lines` newlines have arrived in all, or `seconds` pass.
  std::string read_lines(size_t lines, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::count(got.begin(), got.end(), '\n') < static_cast<std::ptrdiff_t>(lines)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{out, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  int wait() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string got;
};

}  // namespace

TEST(ClassifyCli, StreamingAnswersEachLineBeforeInputEnds) {
  auto& p = pipeline();
  Child child(classify("-m " + quote((p.ft / "best").string()) + " --quiet --threads 1"));
  child.write("The chef baked bread in the oven.\n");
  // The header and the first answer come while standard input is still open.
  const std::string first = child.read_lines(2, 60);
  ASSERT_EQ(std::count(first.begin(), first.end(), '\n'), 2) << first;
  EXPECT_EQ(first.rfind("label\tprobability\ncooking\t", 0), 0u) << first;
  child.write("The striker scored a goal in the final minute.\n");
  const std::string second = child.read_lines(3, 60);
  EXPECT_EQ(std::count(second.begin(), second.end(), '\n'), 3) << second;
  child.close_input();
  EXPECT_EQ(child.wait(), 0);
  EXPECT_NE(second.find("\nsports\t"), std::string::npos) << second;
}

TEST(ClassifyCli, StreamedOutputKeepsInputOrderAndMatchesAWholeRead) {
  auto& p = pipeline();
  TempDir dir;
  // The task's texts, one per line, fed through a pipe in small micro-batches vs read whole.
  std::string texts;
  {
    std::istringstream in(read_file(source_dir() / "data" / "task" / "dev.tsv"));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) texts += line.substr(line.find('\t') + 1) + "\n";
  }
  write_file(dir / "texts.txt", texts);
  const std::string model = "-m " + quote((p.ft / "best").string()) + " --quiet --threads 1 --all-probs ";
  auto streamed = run_command("cat " + quote((dir / "texts.txt").string()) + " | " +
                              classify(model + "--stream on --batch-size 7 --stream-wait-ms 0"));
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  auto whole = run_command(classify(model + "--stream auto") + " < " + quote((dir / "texts.txt").string()));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  // Same rows in the same order: labels equal, probabilities equal to float noise (other batches, other padding).
  std::istringstream a(streamed.output), b(whole.output);
  std::string la, lb;
  size_t rows = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    ASSERT_EQ(la.substr(0, la.find('\t')), lb.substr(0, lb.find('\t'))) << "row " << rows;
    if (rows++ == 0) continue;  // header
    std::istringstream ca(la), cb(lb);
    std::string fa, fb;
    std::getline(ca, fa, '\t');
    std::getline(cb, fb, '\t');
    while (std::getline(ca, fa, '\t') && std::getline(cb, fb, '\t')) EXPECT_NEAR(std::stod(fa), std::stod(fb), 2e-6);
  }
  EXPECT_EQ(rows, 151u);  // header + 150 texts
  EXPECT_FALSE(std::getline(a, la) || std::getline(b, lb));
}

TEST(ClassifyCli, StreamOnlyWhereItMeansSomething) {
  auto& p = pipeline();
  TempDir dir;
  const std::string model = "-m " + quote((p.ft / "best").string()) + " --stream on ";
  for (const auto& [extra, why] : std::vector<std::pair<std::string, std::string>>{
           {"-o " + quote((dir / "out.tsv").string()), "stream: on writes standard output"},
           {"--eval", "stream: on does not evaluate"},
           {quote((source_dir() / "data" / "task" / "dev.tsv").string()), "stream: on reads standard input alone"},
           {"--format tsv", "stream: on reads one record per line"}}) {
    const auto r = run_command("echo x | " + classify(model + extra));
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "out.tsv"));
  const auto r = run_command("echo x | " + classify("-m " + quote((p.ft / "best").string()) + " --stream sometimes"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("stream: unknown 'sometimes' (expected auto, on or off)"), std::string::npos) << r.output;
}
