#pragma once
// What topology.cpp's binding calls did, kept for --stats (describe_bindings, binding_counts in
// topology.hpp): each call's outcome per node, and the buffers made by bound threads, whose pages are
// sampled (page_placement.hpp) while they live and once more just before they are released. A failed
// call prints one `note:` line per node, call and errno, the first time. Internal to numa/.
#include <cstddef>

namespace qwen3::numa {

// `error`: 0 when the call succeeded, else its errno.
void record_cpu_bind(int node);
void record_memory_bind(int node, int error);
void record_area_bind(int node, int error);

// A buffer made by a thread bound to `node`; `use` is a string literal ("weights", "KV"). False if
// it could not be recorded (out of memory): then it must not be forgotten either.
bool track_buffer(const void* p, std::size_t bytes, int node, const char* use) noexcept;
// Samples the buffer's pages one last time and forgets it; called just before it is freed.
void forget_buffer(void* p, std::size_t bytes) noexcept;

}  // namespace qwen3::numa
