// A mapped file that another process truncates: reading a lost page ends the process with one line
// naming the file (exit 1), instead of SIGBUS.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/mapping_guard.hpp"
#include "qwen3/safetensors.hpp"

namespace qwen3 {
namespace {

std::filesystem::path write_file(const std::string& name, std::size_t bytes) {
  const auto path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
  return path;
}

// Property: after truncation, touching the lost pages of a guarded mapping exits with status 1 and
// the message that names the file; the prefix given at installation starts it.
TEST(MappingGuardDeathTest, TruncatedFileIsOneLineNotSigbus) {
  const auto path = write_file("qwen3-guard", 1 << 20);
  EXPECT_EXIT(
      {
        guard_mapped_files("test: error: ");
        auto file = MappedFile::open(path);
        std::filesystem::resize_file(path, 4096);
        volatile std::byte b = file->data()[(1 << 20) - 1];
        (void)b;
      },
      ::testing::ExitedWithCode(1), "^test: error: .*qwen3-guard-[0-9]+: the file shrank or changed while mapped");
  std::filesystem::remove(path);
}

// Property: a SIGBUS outside any registered mapping keeps its default action (killed by SIGBUS),
// so the guard never hides a fault that is not about a checkpoint.
TEST(MappingGuardDeathTest, UnregisteredFaultKeepsTheDefault) {
  EXPECT_EXIT(
      {
        guard_mapped_files("test: error: ");
        ::raise(SIGBUS);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

// Property: each MappedFile gives its slot back when it goes: after mapping and releasing more files
// than there are slots (1024), a new mapping is still guarded.
TEST(MappingGuardDeathTest, SlotsAreReleased) {
  const auto small = write_file("qwen3-guard-small", 8192);
  const auto path = write_file("qwen3-guard-last", 1 << 20);
  EXPECT_EXIT(
      {
        guard_mapped_files("test: error: ");
        for (int i = 0; i < 3000; ++i) MappedFile::open(small);
        auto file = MappedFile::open(path);
        std::filesystem::resize_file(path, 4096);
        volatile std::byte b = file->data()[(1 << 20) - 1];
        (void)b;
      },
      ::testing::ExitedWithCode(1), "qwen3-guard-last-[0-9]+: the file shrank");
  std::filesystem::remove(small);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace qwen3
