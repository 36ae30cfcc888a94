#include <gtest/gtest.h>

#include "kdtext/util/atomic.h"
#include "kdtext/util/error.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::read_file;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;
namespace fs = std::filesystem;

TEST(Atomic, WriteFileReplacesWholeContent) {
  TempDir dir;
  write_file_atomic(dir / "f.txt", "first version, long");
  write_file_atomic(dir / "f.txt", "second");
  EXPECT_EQ(read_file(dir / "f.txt"), "second");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary left behind
}

TEST(Atomic, StagedDirectoryVanishesWithoutCommit) {
  TempDir dir;
  fs::path staging;
  try {
    StagedDirectory out(dir / "out", false);
    staging = out.path();
    write_file(staging / "half.bin", "partial");
    throw std::runtime_error("stage failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(Atomic, StagedDirectoryCommitsAndRespectsOverwrite) {
  TempDir dir;
  {
    StagedDirectory out(dir / "out", false);
    write_file(out.path() / "a.txt", "one");
    out.commit();
  }
  EXPECT_EQ(read_file(dir / "out" / "a.txt"), "one");
  EXPECT_THROW(StagedDirectory(dir / "out", false), ConfigError);
  {
    StagedDirectory out(dir / "out", true);
    write_file(out.path() / "b.txt", "two");
    EXPECT_TRUE(fs::exists(dir / "out" / "a.txt"));  // old output intact until commit
    out.commit();
  }
  EXPECT_FALSE(fs::exists(dir / "out" / "a.txt"));
  EXPECT_EQ(read_file(dir / "out" / "b.txt"), "two");
}

TEST(Atomic, UnwritableLocationIsAnError) {
  TempDir dir;
  write_file(dir / "file", "x");
  // A regular file where a parent directory should be: cannot create anything below.
  EXPECT_ANY_THROW(StagedDirectory(dir / "file" / "out", false));
  EXPECT_THROW(StagedDirectory(dir / "file", false), ConfigError);  // exists, not a directory
}
