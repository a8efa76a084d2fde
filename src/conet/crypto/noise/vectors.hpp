#pragma once
/// Runs Noise test vectors in the cacophony JSON format ({"vectors": [...]})
/// against the engine: every handshake and transport message, both sides,
/// and the handshake hash. Vectors whose protocol the engine does not
/// support are counted as skipped.

#include <string>
#include <string_view>
#include <vector>

namespace conet::crypto::noise {

struct VectorReport {
    std::size_t passed = 0;
    std::size_t failed = 0;
    std::size_t skipped = 0;
    std::vector<std::string> failures;  ///< "protocol name: what went wrong"
    std::string fatal;                  ///< set when the file itself is unusable
};

VectorReport run_cacophony_vectors(std::string_view json_text);

}  // namespace conet::crypto::noise
