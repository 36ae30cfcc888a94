#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
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

// Issue 26: what a file output names decides how it is written.
TEST(Atomic, WriteTargetFollowsLinksAndWritesSpecialFilesInPlace) {
  TempDir dir;
  write_file(dir / "target.txt", "old");
  fs::create_symlink("target.txt", dir / "link1");            // relative
  fs::create_symlink(dir / "link1", dir / "link2");           // a chain
  EXPECT_EQ(write_target(dir / "link2").path, dir / "target.txt");
  EXPECT_FALSE(write_target(dir / "link2").in_place);
  write_file_atomic(dir / "link2", "new content");
  EXPECT_TRUE(fs::is_symlink(dir / "link2"));
  EXPECT_TRUE(fs::is_symlink(dir / "link1"));
  EXPECT_EQ(read_file(dir / "target.txt"), "new content");
  // A link to a file not yet there: created at the link's target.
  fs::create_symlink(dir / "later.txt", dir / "dangling");
  write_file_atomic(dir / "dangling", "x");
  EXPECT_TRUE(fs::is_symlink(dir / "dangling"));
  EXPECT_EQ(read_file(dir / "later.txt"), "x");
  // Device files and the process's own descriptors: in place, never renamed over.
  for (const char* p : {"/dev/stdout", "/dev/stderr", "/dev/null", "/dev/fd/1", "/proc/self/fd/1"}) {
    EXPECT_TRUE(write_target(p).in_place) << p;
  }
  fs::create_symlink("/dev/null", dir / "to-null");
  EXPECT_TRUE(write_target(dir / "to-null").in_place);
  write_file_atomic(dir / "to-null", "discarded");
  EXPECT_TRUE(fs::is_symlink(dir / "to-null"));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  EXPECT_EQ(write_target(dir / "absent.txt").path, dir / "absent.txt");
  EXPECT_FALSE(write_target(dir / "absent.txt").in_place);
}

TEST(Atomic, StaleTemporariesOfDeadWritersAreRemoved) {
  TempDir dir;
  write_file(dir / "out.jsonl.tmp-999999", "left by a killed writer");
  write_file(dir / ("out.jsonl.tmp-" + std::to_string(::getpid())), "a live writer's (this process)");
  write_file(dir / "other.tmp-999999", "another file's");
  EXPECT_EQ(remove_stale_temporaries(dir / "out.jsonl"), 1);
  EXPECT_FALSE(fs::exists(dir / "out.jsonl.tmp-999999"));
  EXPECT_TRUE(fs::exists(dir / ("out.jsonl.tmp-" + std::to_string(::getpid()))));
  EXPECT_TRUE(fs::exists(dir / "other.tmp-999999"));
  // The writer does it itself before it starts.
  write_file(dir / "f.txt.tmp-999998", "stale");
  write_file_atomic(dir / "f.txt", "ok");
  EXPECT_FALSE(fs::exists(dir / "f.txt.tmp-999998"));
}

TEST(Atomic, OutputFilesAreCheckedBeforeAnyWork) {
  TempDir dir;
  EXPECT_NO_THROW(check_output_file(dir / "new.tsv", "--output"));
  EXPECT_NO_THROW(check_output_file("-", "--output"));
  try {
    check_output_file(dir / "nodir" / "m.json", "--metrics");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--metrics: " + (dir / "nodir" / "m.json").string()), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(check_output_file(dir.path(), "--output"), ConfigError);  // a directory
}

TEST(Atomic, OverwriteReplacesOnlyWhatKdtextWrote) {
  TempDir dir;
  EXPECT_NO_THROW(check_replaceable(dir / "absent"));
  fs::create_directories(dir / "empty");
  EXPECT_NO_THROW(check_replaceable(dir / "empty"));
  fs::create_directories(dir / "mine" / "src");
  write_file(dir / "mine" / "src" / "notes.txt", "notes");
  EXPECT_THROW(check_replaceable(dir / "mine"), ConfigError);
  write_file(dir / "file.csv", "a,b\n");
  EXPECT_THROW(check_replaceable(dir / "file.csv"), ConfigError);
  // Marked by kdtext, or an earlier version's checkpoint / run.
  fs::create_directories(dir / "marked");
  write_output_marker(dir / "marked", "test");
  write_file(dir / "marked" / "anything", "x");
  EXPECT_NO_THROW(check_replaceable(dir / "marked"));
  fs::create_directories(dir / "checkpoint");
  write_file(dir / "checkpoint" / "kdtext.json", "{}");
  EXPECT_NO_THROW(check_replaceable(dir / "checkpoint"));
  fs::create_directories(dir / "run");
  write_file(dir / "run" / "config.json", R"({"run": {"log_level": "info"}})");
  EXPECT_NO_THROW(check_replaceable(dir / "run"));
  fs::create_directories(dir / "project");
  write_file(dir / "project" / "config.json", R"({"name": "my app"})");  // a config.json, not kdtext's
  EXPECT_THROW(check_replaceable(dir / "project"), ConfigError);
  // Never the current directory or one holding it, even marked.
  const auto cwd = fs::current_path();
  fs::create_directories(dir / "marked" / "sub");
  fs::current_path(dir / "marked" / "sub");
  EXPECT_THROW(check_replaceable(resolved_output_dir(dir / "marked")), ConfigError);
  EXPECT_THROW(check_replaceable(resolved_output_dir(".")), ConfigError);
  fs::current_path(cwd);
}

TEST(Atomic, StagedDirectoryAndLockResolveSymbolicLinks) {
  TempDir dir;
  fs::create_directories(dir / "real");
  fs::create_symlink("real", dir / "alias");
  EXPECT_EQ(DirectoryLock::lock_file(dir / "alias"), DirectoryLock::lock_file(dir / "real"));
  DirectoryLock held(dir / "real");
  EXPECT_THROW(DirectoryLock second(dir / "alias"), InputError);
}

TEST(Atomic, CacheEntriesNeverFollowALinkNorOpenAFifo) {
  TempDir dir;
  write_file(dir / "precious", "system file\n");
  // A link planted at the entry: replaced itself; what it points at is untouched and never read.
  fs::create_symlink(dir / "precious", dir / "entry.json");
  EXPECT_FALSE(read_cache_file(dir / "entry.json", 1 << 20).has_value());
  write_cache_file(dir / "entry.json", "{\"measured\": 1}\n");
  EXPECT_EQ(read_file(dir / "precious"), "system file\n");
  EXPECT_FALSE(fs::is_symlink(dir / "entry.json"));
  EXPECT_EQ(read_cache_file(dir / "entry.json", 1 << 20).value(), "{\"measured\": 1}\n");
  EXPECT_FALSE(read_cache_file(dir / "entry.json", 4).has_value());  // larger than the caller takes
  // A FIFO there: not opened for reading in a way that waits for a writer, replaced by the next write.
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0644), 0);
  EXPECT_FALSE(read_cache_file(dir / "fifo.json", 1 << 20).has_value());
  write_cache_file(dir / "fifo.json", "x");
  EXPECT_EQ(read_file(dir / "fifo.json"), "x");
  // A link planted at this process's temporary name is not followed either.
  fs::create_symlink(dir / "precious", dir / ("t.json.tmp-" + std::to_string(::getpid())));
  write_cache_file(dir / "t.json", "y");
  EXPECT_EQ(read_file(dir / "precious"), "system file\n");
  EXPECT_EQ(read_file(dir / "t.json"), "y");
}

TEST(Atomic, OwnStandardOutputIsWrittenThroughItsDescriptor) {
  // `{ echo A; kdtext-... -o /dev/stdout; echo B; } > f`: the bytes go where the shell's offset is, so B follows them.
  TempDir dir;
  const int file = ::open((dir / "f").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(file, 0);
  std::fflush(stdout);
  const int saved = ::dup(1);
  ::dup2(file, 1);
  ASSERT_EQ(::write(1, "A\n", 2), 2);
  write_file_atomic("/dev/stdout", "predictions\n");
  {
    AtomicFileWriter w("/proc/self/fd/1");
    w.write("more\n");
    w.commit();
  }
  ASSERT_EQ(::write(1, "B\n", 2), 2);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(file);
  EXPECT_EQ(read_file(dir / "f"), "A\npredictions\nmore\nB\n");
  EXPECT_TRUE(write_target("/dev/stdout").in_place);
  EXPECT_EQ(write_target("/dev/stdout").descriptor, 1);
  EXPECT_EQ(write_target("/dev/fd/7").descriptor, 7);
  EXPECT_EQ(write_target("/proc/1/fd/1").descriptor, -1);  // another process's: opened, not shared
}
