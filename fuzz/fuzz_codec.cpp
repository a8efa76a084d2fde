// Canonical codec: arbitrary bytes must never crash the decoder, and any
// accepted input must re-encode to exactly the same bytes.

#include <cstdlib>

#include "codec_sample.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using conet::test::Sample;
    const conet::util::ByteView input(data, size);
    const auto decoded = conet::codec::decode<Sample>(input);
    if (decoded && !conet::util::equal(conet::codec::encode(*decoded), input)) std::abort();
    return 0;
}
