// The installed package: cmake --install to a temporary prefix, then
// examples/classify_api built against it in a separate directory with only
// CMAKE_PREFIX_PATH set, run on a trained model: its output equals the
// installed kdtext-classify's. The installed executables find their presets
// and libraries from the prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "pipeline_fixture.h"
#include "test_util.h"

using namespace kdtext::testing;
namespace fs = std::filesystem;

TEST(Install, TheExampleBuiltAgainstAnInstalledPrefixLabelsAsKdtextClassify) {
  TempDir dir;
  const fs::path build = fs::path(bin("kdtext-classify")).parent_path().parent_path();
  const fs::path prefix = dir / "prefix";
  auto r = run_command("cmake --install " + quote(build.string()) + " --prefix " + quote(prefix.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"bin/kdtext-classify", "bin/kdtext-pretrain", "include/kdtext/classifier.h",
                        "include/kdtext/version.h", "lib/libkdtext.a", "lib/cmake/kdtext/kdtextConfig.cmake",
                        "lib/cmake/kdtext/kdtextConfigVersion.cmake", "share/kdtext/configs/model/bert-tiny.json"}) {
    EXPECT_TRUE(fs::exists(prefix / f)) << f;
  }
  // Only the public headers (issue 27): the C++ API, its errors and the version.
  std::vector<std::string> headers;
  for (const auto& e : fs::recursive_directory_iterator(prefix / "include")) {
    if (e.is_regular_file()) headers.push_back(e.path().lexically_relative(prefix / "include").string());
  }
  std::sort(headers.begin(), headers.end());
  EXPECT_EQ(headers, (std::vector<std::string>{"kdtext/classifier.h", "kdtext/error.h", "kdtext/version.h"}));

  // A clean environment: nothing but CMAKE_PREFIX_PATH points at kdtext (or LibTorch).
  const fs::path example = dir / "example";
  r = run_command("env -i PATH=/usr/local/bin:/usr/bin:/bin cmake -G Ninja -S " +
                  quote((source_dir() / "examples" / "classify_api").string()) + " -B " + quote(example.string()) +
                  " -DCMAKE_PREFIX_PATH=" + quote(prefix.string()) + " && env -i PATH=/usr/local/bin:/usr/bin:/bin "
                  "cmake --build " + quote(example.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  std::string texts;
  {
    std::ifstream in(source_dir() / "data" / "task" / "dev.tsv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) texts += line.substr(line.find('\t') + 1) + "\n";
  }
  write_file(dir / "texts.txt", texts);
  const std::string model = quote((pipeline().ft / "best").string());
  const auto api = run_command("sh -c " + quote(quote((example / "classify_api").string()) + " " + model + " " +
                                                quote((dir / "texts.txt").string()) + " 2>/dev/null"));
  ASSERT_EQ(api.exit_code, 0) << api.output;
  const auto cli = run_command(quote((prefix / "bin" / "kdtext-classify").string()) + " -m " + model +
                               " --format lines --quiet " + quote((dir / "texts.txt").string()));
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_EQ(api.output, cli.output);
  EXPECT_GT(std::count(api.output.begin(), api.output.end(), '\n'), 100);

  // The installed executables: presets from P/share/kdtext (no source tree), no GPU driver needed.
  r = run_command("env -u KDTEXT_CONFIG_DIR " + quote((prefix / "bin" / "kdtext-pretrain").string()) + " " +
                  quote(pipeline().prep.string()) + " -o " + quote((dir / "mlm").string()) +
                  " --model bert-tiny --max-steps 1 --max-len 32 --batch-size 4 --threads 1 --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command("ldd " + quote((prefix / "bin" / "kdtext-classify").string()));
  EXPECT_EQ(r.output.find("not found"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libcuda.so.1"), std::string::npos) << r.output;
}
