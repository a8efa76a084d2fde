#pragma once
/// Always-on assertion for programmer errors (never for validating input).

namespace conet::util::detail {
[[noreturn]] void assertion_failed(const char* expr, const char* msg, const char* file, int line);
}  // namespace conet::util::detail

#define CONET_ASSERT(cond)                                                               \
    do {                                                                                 \
        if (!(cond)) [[unlikely]]                                                        \
            ::conet::util::detail::assertion_failed(#cond, nullptr, __FILE__, __LINE__); \
    } while (false)

#define CONET_ASSERT_MSG(cond, msg)                                                    \
    do {                                                                               \
        if (!(cond)) [[unlikely]]                                                      \
            ::conet::util::detail::assertion_failed(#cond, (msg), __FILE__, __LINE__); \
    } while (false)
