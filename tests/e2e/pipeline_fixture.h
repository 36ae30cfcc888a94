// The pipeline the finetune, classify and distill CLI tests share: preprocess
// + a short pretrain + finetune on the task in data/, built once (per test
// process, reused across processes through shared_fixture).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace kdtext::testing {

// preprocess + a short pretrain + finetune, built once and shared by the CLI test files.
struct Pipeline {
  std::filesystem::path root, prep, mlm, ft;
  std::string finetune_output;
  Pipeline() {
    root = shared_fixture("finetune-pipeline", [](const std::filesystem::path& dir) {
      const auto data = source_dir() / "data";
      auto r = run_command(bin("kdtext-preprocess") + " " + quote((data / "corpus").string()) + " -o " +
                           quote((dir / "prep").string()) + " --vocab-size 400 --quiet");
      if (r.exit_code != 0) throw std::runtime_error(r.output);
      r = run_command(bin("kdtext-pretrain") + " " + quote((dir / "prep").string()) + " -o " +
                      quote((dir / "mlm").string()) +
                      " --model bert-tiny --max-len 64 --batch-size 16 --max-steps 400 --lr 2e-3 --threads 1 --quiet");
      if (r.exit_code != 0) throw std::runtime_error(r.output);
      r = run_command(bin("kdtext-finetune") + " --from " + quote((dir / "mlm" / "final").string()) + " --train " +
                      quote((data / "task" / "train.tsv").string()) + " --dev " +
                      quote((data / "task" / "dev.tsv").string()) + " --test " +
                      quote((data / "task" / "test.tsv").string()) + " -o " + quote((dir / "ft").string()) +
                      " --epochs 10 --batch-size 16 --lr 1e-3 --max-len 48 --threads 1");
      write_file(dir / "finetune.log", r.output);
      if (r.exit_code != 0) throw std::runtime_error(r.output);
    });
    prep = root / "prep";
    mlm = root / "mlm";
    ft = root / "ft";
    finetune_output = read_file(root / "finetune.log");
  }
};

inline Pipeline& pipeline() {
  static Pipeline p;
  return p;
}

// A 1-layer x 32 student of the pipeline's fine-tuned teacher, written to `out`.
inline CommandResult build_small_student(const std::filesystem::path& out) {
  return run_command(bin("kdtext-build-student") + " --teacher " + quote((pipeline().ft / "best").string()) +
                     " --layers 1 --hidden 32 --heads 2 --intermediate 64 -o " + quote(out.string()) + " --quiet");
}

// kdtext-distill from the pipeline's teacher into `student` on `train` (dev:
// data/task/dev.tsv), writing to `out`; options follow.
inline std::string distill_command(const std::filesystem::path& student, const std::filesystem::path& train,
                                   const std::filesystem::path& out) {
  return bin("kdtext-distill") + " --teacher " + quote((pipeline().ft / "best").string()) + " --student " +
         quote(student.string()) + " --train " + quote(train.string()) + " --dev " +
         quote((source_dir() / "data" / "task" / "dev.tsv").string()) + " -o " + quote(out.string()) + " ";
}

inline std::string classify(const std::string& args) { return bin("kdtext-classify") + " " + args; }

}  // namespace kdtext::testing
