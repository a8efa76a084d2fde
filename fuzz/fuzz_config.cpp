// node.toml (node::parse_config): arbitrary bytes give a config or an error,
// never a crash or an escaped exception, including the [limits] table and the
// relations util::Limits::check enforces. A config that parses is written out
// (annotated_config, as `conet node init` does) and read back to the same file.

#include <cstdlib>

#include "conet/node/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = conet::node::parse_config(text, "node.toml");
    if (!config) return 0;
    if (config->limits.check()) std::abort();  // a parsed config respects the relations
    const std::string written = conet::node::annotated_config(*config);
    auto again = conet::node::parse_config(written, "node.toml");
    if (!again || conet::node::annotated_config(*again) != written) std::abort();
    return 0;
}
