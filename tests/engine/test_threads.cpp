// Thread counts: what a run asks for against what the OpenMP runtime grants and the cores allow.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <string>

#include "engine/threads.hpp"

namespace qwen3 {
namespace {

// Property: set_thread_count leaves omp_get_max_threads() equal to the team size it reports, which
// is what oneDNN plans its work split by.
TEST(ThreadCount, MaxThreadsEqualsGrantedTeam) {
  for (int requested : {0, 1, 2, 3}) {
    const ThreadCount t = set_thread_count(requested);
    EXPECT_GE(t.granted, 1);
    EXPECT_GE(t.cores, 1);
    EXPECT_EQ(omp_get_max_threads(), t.granted) << "requested " << requested;
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
      team = omp_get_num_threads();
    }
    EXPECT_EQ(team, t.granted) << "requested " << requested;
  }
}

// Property: each surprise gets its own note line, and an ordinary count gets none.
TEST(ThreadCount, NotesNameEachSurprise) {
  EXPECT_EQ(thread_count_notes({2, 2, 2}), "");
  EXPECT_EQ(thread_count_notes({0, 8, 8}), "");
  const std::string fewer = thread_count_notes({4, 8, 1});
  EXPECT_NE(fewer.find("4 threads asked for, the OpenMP runtime gives 1"), std::string::npos) << fewer;
  const std::string more = thread_count_notes({16, 2, 16});
  EXPECT_NE(more.find("16 threads on 2 usable cores"), std::string::npos) << more;
  EXPECT_EQ(std::count(more.begin(), more.end(), '\n'), 1);
}

}  // namespace
}  // namespace qwen3
