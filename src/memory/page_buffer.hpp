#pragma once
// Large anonymous buffers backed by transparent huge pages where the kernel allows it.
// Why: streaming 1 GB of weights per decode step through 4 KiB pages costs a TLB miss every 4 KiB and
// stops the hardware prefetcher at each page boundary; on the development VM, reading through 2 MiB
// pages measured 16.5 GB/s against 9.6 GB/s with 4 KiB pages (one thread, bench/decode's probe).
// Small buffers (< 1 MiB) come from the ordinary allocator, 64-byte aligned.
#include <cstddef>

namespace qwen3 {

// Told of every buffer, on the allocating thread, before its first touch: numa/ binds a buffer with
// pages of its own (own_pages: a large buffer, its own mapping) to that thread's NUMA domain (the
// weight slices and KV blocks of a domain live there), and notes every buffer (small ones share heap
// pages and follow the thread's memory policy) to sample where its pages really are for --stats.
// `use` names what the buffer holds ("weights", "KV"). Returns the function to call with the same
// p and bytes just before the buffer is released (nullptr: none). The process sets it once, before
// any thread allocates; nullptr (the default): nothing is called.
using AreaRelease = void (*)(void* p, std::size_t bytes);
using AreaBinder = AreaRelease (*)(void* p, std::size_t bytes, bool own_pages, const char* use);
void set_area_binder(AreaBinder binder);

class PageBuffer {
 public:
  PageBuffer() = default;
  explicit PageBuffer(std::size_t bytes, const char* use = "buffers");  // use: a string literal (AreaBinder)
  ~PageBuffer();
  PageBuffer(PageBuffer&& o) noexcept;
  PageBuffer& operator=(PageBuffer&& o) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void release();
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // > 0 when the buffer is an mmap region
  AreaRelease on_release_ = nullptr;  // what the area binder asked to be called at release
};

// Drops the whole pages inside [p, p + bytes) of a read-only file mapping from this process's
// resident set (the page cache keeps them; a later read faults them back in). Called after a weight
// has been copied into a PageBuffer, so the load's peak memory is the copy, not copy + file.
void release_mapped_pages(const void* p, std::size_t bytes);

}  // namespace qwen3
