#include "conet/crypto/noise/pattern.hpp"

#include <charconv>
#include <map>

namespace conet::crypto::noise {

namespace {

using enum Token;

struct BasePattern {
    std::vector<Token> pre_initiator;
    std::vector<Token> pre_responder;
    std::vector<std::vector<Token>> messages;
    bool one_way = false;
};

// Transcribed from the Noise specification, §7.2–7.4.
const std::map<std::string, BasePattern, std::less<>>& base_patterns() {
    static const std::map<std::string, BasePattern, std::less<>> table = {
        {"N", {{}, {s}, {{e, es}}, true}},
        {"K", {{s}, {s}, {{e, es, ss}}, true}},
        {"X", {{}, {s}, {{e, es, s, ss}}, true}},
        {"NN", {{}, {}, {{e}, {e, ee}}}},
        {"NK", {{}, {s}, {{e, es}, {e, ee}}}},
        {"NX", {{}, {}, {{e}, {e, ee, s, es}}}},
        {"XN", {{}, {}, {{e}, {e, ee}, {s, se}}}},
        {"XK", {{}, {s}, {{e, es}, {e, ee}, {s, se}}}},
        {"XX", {{}, {}, {{e}, {e, ee, s, es}, {s, se}}}},
        {"KN", {{s}, {}, {{e}, {e, ee, se}}}},
        {"KK", {{s}, {s}, {{e, es, ss}, {e, ee, se}}}},
        {"KX", {{s}, {}, {{e}, {e, ee, se, s, es}}}},
        {"IN", {{}, {}, {{e, s}, {e, ee, se}}}},
        {"IK", {{}, {s}, {{e, es, s, ss}, {e, ee, se}}}},
        {"IX", {{}, {}, {{e, s}, {e, ee, se, s, es}}}},
    };
    return table;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const std::size_t pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

/// Applies "psk0+psk2" style modifiers (spec §9.2): psk0 goes first in the
/// first message, pskN (N >= 1) last in message N.
Result<void> apply_modifiers(Pattern& p, std::string_view modifiers) {
    if (modifiers.empty()) return {};
    for (std::string_view m : split(modifiers, '+')) {
        if (m.substr(0, 3) != "psk" || m.size() < 4) return util::unexpected(NoiseError::unsupported_protocol);
        std::size_t n = 0;
        const auto digits = m.substr(3);
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc() || ptr != digits.data() + digits.size())
            return util::unexpected(NoiseError::unsupported_protocol);
        if (n == 0) {
            p.messages.front().insert(p.messages.front().begin(), psk);
        } else {
            if (n > p.messages.size()) return util::unexpected(NoiseError::unsupported_protocol);
            p.messages[n - 1].push_back(psk);
        }
        p.has_psk = true;
    }
    return {};
}

}  // namespace

Result<Protocol> parse_protocol_name(std::string_view name) {
    const auto parts = split(name, '_');
    if (parts.size() != 5 || parts[0] != "Noise") return util::unexpected(NoiseError::unsupported_protocol);
    if (parts[2] != "25519" || parts[3] != "ChaChaPoly" || parts[4] != "BLAKE2b")
        return util::unexpected(NoiseError::unsupported_protocol);

    const std::string_view full = parts[1];
    std::size_t base_len = 0;
    while (base_len < full.size() && full[base_len] >= 'A' && full[base_len] <= 'Z') ++base_len;
    const auto it = base_patterns().find(full.substr(0, base_len));
    if (it == base_patterns().end()) return util::unexpected(NoiseError::unsupported_protocol);

    Pattern p{std::string(full),   it->second.pre_initiator, it->second.pre_responder,
              it->second.messages, it->second.one_way,       false};
    if (auto ok = apply_modifiers(p, full.substr(base_len)); !ok) return util::unexpected(ok.error());
    return Protocol{std::string(name), std::move(p)};
}

}  // namespace conet::crypto::noise
