#pragma once

// A build with ASan or TSan (scripts/sanitizers.sh) runs several times slower, more on a
// loaded machine: a test's wall-clock bound is scaled by this, the rest of what it checks
// stays as it is. GCC defines __SANITIZE_*__ under -fsanitize, clang has __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BD_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BD_TEST_SANITIZED 1
#endif
#endif

#ifdef BD_TEST_SANITIZED
inline constexpr int kSanitizerSlowdown = 10;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif
