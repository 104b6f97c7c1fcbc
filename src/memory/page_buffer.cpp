#include "memory/page_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace qwen3 {
namespace {
constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr std::size_t kHugeThreshold = std::size_t(1) << 20;
std::atomic<AreaBinder> g_binder{nullptr};
}  // namespace

void set_area_binder(AreaBinder binder) { g_binder.store(binder); }

PageBuffer::PageBuffer(std::size_t bytes, const char* use) : size_(bytes) {
  if (bytes == 0) return;
  if (bytes >= kHugeThreshold) {
    const std::size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Align the start to 2 MiB so every page of the buffer can be a huge page; trim the slack.
    auto base = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) munmap(p, aligned - base);
    const std::size_t tail = (base + len + kHugePage) - (aligned + len);
    if (tail > 0) munmap(reinterpret_cast<void*>(aligned + len), tail);
    madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);  // advisory: ignored where THP is off
    data_ = reinterpret_cast<std::byte*>(aligned);
    mapped_ = len;
  } else {
    data_ = static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!data_) throw std::bad_alloc();
  }
  if (const AreaBinder bind = g_binder.load()) on_release_ = bind(data_, mapped_ ? mapped_ : size_, mapped_ > 0, use);  // before the first touch
}

PageBuffer::~PageBuffer() { release(); }

PageBuffer::PageBuffer(PageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)),
      on_release_(std::exchange(o.on_release_, nullptr)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
    on_release_ = std::exchange(o.on_release_, nullptr);
  }
  return *this;
}

void PageBuffer::release() {
  if (!data_) return;
  if (on_release_) on_release_(data_, mapped_ ? mapped_ : size_);
  if (mapped_) munmap(data_, mapped_);
  else std::free(data_);
  data_ = nullptr;
  on_release_ = nullptr;
}

void release_mapped_pages(const void* p, std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advisory
}

}  // namespace qwen3
