#include "kdtext/util/fault.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace kdtext {

namespace {

struct Target {
  std::string name;     // "" = fault injection off
  long at = 0;          // 1-based occurrence to stop at
  std::atomic<long> seen{0};
};

Target& target() {
  static Target* t = [] {
    auto* t = new Target;
    const char* spec = std::getenv("KDTEXT_CRASH_AT");
    if (!spec) return t;
    const char* colon = std::strrchr(spec, ':');
    if (!colon || colon == spec || std::atol(colon + 1) < 1) return t;  // malformed: off
    t->name.assign(spec, colon);
    t->at = std::atol(colon + 1);
    return t;
  }();
  return *t;
}

}  // namespace

void crash_point(const char* name) {
  Target& t = target();
  if (t.name.empty() || (t.name != "*" && t.name != name)) return;
  if (t.seen.fetch_add(1) + 1 == t.at) {
    static const char kMsg[] = "[kdtext] KDTEXT_CRASH_AT reached: SIGKILL\n";
    (void)!::write(2, kMsg, sizeof kMsg - 1);
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace kdtext
