// The rule that gives up cores to other processes (infer/threads.h).
#include <gtest/gtest.h>

#include "kdtext/infer/threads.h"

using kdtext::infer::threads_for_load;

TEST(AdaptiveThreads, UsesTheCoresOthersLeaveFreeWithinOneAndTheRequest) {
  EXPECT_EQ(threads_for_load(2, 2, 0.0), 2);   // a quiet machine: all requested
  EXPECT_EQ(threads_for_load(2, 2, 0.3), 2);   // noise rounds away
  EXPECT_EQ(threads_for_load(2, 2, 1.0), 1);   // one busy core of two
  EXPECT_EQ(threads_for_load(2, 2, 3.0), 1);   // over-subscribed: still one thread, never zero
  EXPECT_EQ(threads_for_load(8, 16, 10.2), 6);
  EXPECT_EQ(threads_for_load(4, 16, 2.0), 4);  // never more than requested
  EXPECT_EQ(threads_for_load(0, 4, 0.0), 1);
  EXPECT_EQ(threads_for_load(2, 2, -1.0), 2);  // a negative reading counts as idle
}
