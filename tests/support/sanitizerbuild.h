#pragma once

// A build with ASan or TSan (scripts/sanitizers.sh) runs several times slower, more on a
// loaded machine: a test's wall-clock bound is scaled by this, the rest of what it checks
// stays as it is. GCC and clang both define these macros under -fsanitize.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr int kSanitizerSlowdown = 10;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif
