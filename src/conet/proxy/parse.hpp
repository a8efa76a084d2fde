#pragma once
/// Result of an incremental, I/O-free parse over the bytes received so far.

#include <cstddef>
#include <string>

namespace conet::proxy {

enum class ParseStatus { incomplete, done, invalid };

template <class T>
struct Parsed {
    ParseStatus status = ParseStatus::incomplete;
    T value{};
    std::size_t consumed = 0;  ///< bytes used when done
    std::string error;         ///< why, when invalid

    static Parsed more() { return {}; }
    static Parsed bad(std::string why) { return {ParseStatus::invalid, T{}, 0, std::move(why)}; }
    static Parsed ok(T v, std::size_t n) { return {ParseStatus::done, std::move(v), n, {}}; }
};

}  // namespace conet::proxy
