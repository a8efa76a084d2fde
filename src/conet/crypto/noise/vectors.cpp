#include "conet/crypto/noise/vectors.hpp"

#include <boost/json.hpp>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/crypto/random.hpp"
#include "conet/util/hex.hpp"

namespace conet::crypto::noise {

namespace json = boost::json;

namespace {

/// A vector failed; the message says why.
struct Failure {
    std::string what;
};

template <class T>
using VResult = util::Result<T, Failure>;

VResult<util::Bytes> hex_field(const json::object& o, std::string_view key, bool required) {
    const json::value* v = o.if_contains(key);
    if (!v) {
        if (required) return util::unexpected(Failure{"missing field " + std::string(key)});
        return util::Bytes{};
    }
    if (!v->is_string()) return util::unexpected(Failure{"field " + std::string(key) + " is not a string"});
    auto b = util::from_hex(v->get_string());
    if (!b) return util::unexpected(Failure{"field " + std::string(key) + " is not hex"});
    return std::move(*b);
}

VResult<std::optional<X25519KeyPair>> keypair_field(const json::object& o, std::string_view key) {
    auto b = hex_field(o, key, false);
    if (!b) return util::unexpected(b.error());
    if (b->empty()) return std::optional<X25519KeyPair>{};
    if (b->size() != x25519_key_bytes) return util::unexpected(Failure{std::string(key) + " is not 32 bytes"});
    return std::optional<X25519KeyPair>(X25519KeyPair::from_secret(*b));
}

VResult<std::optional<X25519Public>> public_field(const json::object& o, std::string_view key) {
    auto b = hex_field(o, key, false);
    if (!b) return util::unexpected(b.error());
    if (b->empty()) return std::optional<X25519Public>{};
    if (b->size() != x25519_key_bytes) return util::unexpected(Failure{std::string(key) + " is not 32 bytes"});
    X25519Public pk{};
    std::copy(b->begin(), b->end(), pk.begin());
    return std::optional<X25519Public>(pk);
}

VResult<HandshakeConfig> side_config(const json::object& v, const Protocol& protocol, Role role) {
    const std::string pre = role == Role::initiator ? "init_" : "resp_";
    HandshakeConfig c{protocol, role, {}, {}, {}, {}, {}, {}};
    auto prologue = hex_field(v, pre + "prologue", false);
    auto s = keypair_field(v, pre + "static");
    auto e = keypair_field(v, pre + "ephemeral");
    auto rs = public_field(v, pre + "remote_static");
    if (!prologue) return util::unexpected(prologue.error());
    if (!s) return util::unexpected(s.error());
    if (!e) return util::unexpected(e.error());
    if (!rs) return util::unexpected(rs.error());
    c.prologue = std::move(*prologue);
    c.s = std::move(*s);
    c.e = std::move(*e);
    c.rs = *rs;
    if (const json::value* psks = v.if_contains(pre + "psks")) {
        if (!psks->is_array()) return util::unexpected(Failure{pre + "psks is not an array"});
        for (const json::value& p : psks->get_array()) {
            auto b = p.is_string() ? util::from_hex(p.get_string()) : util::unexpected(util::HexError::bad_digit);
            if (!b || b->size() != psk_bytes)
                return util::unexpected(Failure{pre + "psks entry is not 32 bytes of hex"});
            c.psks.emplace_back(*b);
        }
    }
    return c;
}

std::string describe_step(std::size_t i, std::string_view what) {
    return "message " + std::to_string(i) + ": " + std::string(what);
}

VResult<void> run_one(const json::object& v, const Protocol& protocol) {
    auto init_cfg = side_config(v, protocol, Role::initiator);
    if (!init_cfg) return util::unexpected(init_cfg.error());
    auto resp_cfg = side_config(v, protocol, Role::responder);
    if (!resp_cfg) return util::unexpected(resp_cfg.error());
    auto init = HandshakeState::create(std::move(*init_cfg));
    auto resp = HandshakeState::create(std::move(*resp_cfg));
    if (!init || !resp)
        return util::unexpected(Failure{"cannot set up: " + std::string(describe(init ? resp.error() : init.error()))});

    const json::value* msgs = v.if_contains("messages");
    if (!msgs || !msgs->is_array()) return util::unexpected(Failure{"missing messages"});
    auto expected_hash = hex_field(v, "handshake_hash", false);
    if (!expected_hash) return util::unexpected(expected_hash.error());

    // Ephemerals are preset, so this generator is never drawn from.
    SeededRng rng(0);
    std::optional<Transport> init_t, resp_t;
    const bool one_way = protocol.pattern.one_way;
    for (std::size_t i = 0; i < msgs->get_array().size(); ++i) {
        const json::value& mv = msgs->get_array()[i];
        if (!mv.is_object()) return util::unexpected(Failure{describe_step(i, "not an object")});
        auto payload = hex_field(mv.get_object(), "payload", true);
        auto ciphertext = hex_field(mv.get_object(), "ciphertext", true);
        if (!payload) return util::unexpected(payload.error());
        if (!ciphertext) return util::unexpected(ciphertext.error());
        const bool from_initiator = one_way || i % 2 == 0;

        util::Result<util::Bytes, NoiseError> sent, received;
        if (!init_t) {
            HandshakeState& sender = from_initiator ? *init : *resp;
            HandshakeState& receiver = from_initiator ? *resp : *init;
            sent = sender.write_message(*payload, rng);
            if (sent) received = receiver.read_message(*sent);
        } else {
            Transport& sender = from_initiator ? *init_t : *resp_t;
            Transport& receiver = from_initiator ? *resp_t : *init_t;
            sent = sender.encrypt(*payload);
            if (sent) received = receiver.decrypt(*sent);
        }
        if (!sent) return util::unexpected(Failure{describe_step(i, describe(sent.error()))});
        if (*sent != *ciphertext) return util::unexpected(Failure{describe_step(i, "ciphertext differs")});
        if (!received) return util::unexpected(Failure{describe_step(i, describe(received.error()))});
        if (*received != *payload) return util::unexpected(Failure{describe_step(i, "decrypted payload differs")});

        if (!init_t && init->finished() && resp->finished()) {
            if (!expected_hash->empty()) {
                if (!util::equal(init->handshake_hash(), resp->handshake_hash()))
                    return util::unexpected(Failure{"initiator and responder handshake hashes differ"});
                if (!util::equal(init->handshake_hash(), *expected_hash))
                    return util::unexpected(Failure{"handshake hash differs: expected " + util::to_hex(*expected_hash) +
                                                    ", computed " + util::to_hex(init->handshake_hash())});
            }
            auto it = std::move(*init).split();
            auto rt = std::move(*resp).split();
            if (!it || !rt) return util::unexpected(Failure{"split failed"});
            init_t.emplace(std::move(*it));
            resp_t.emplace(std::move(*rt));
        }
    }
    if (!init_t) return util::unexpected(Failure{"handshake did not complete"});
    return {};
}

}  // namespace

VectorReport run_cacophony_vectors(std::string_view json_text) {
    VectorReport report;
    boost::system::error_code ec;
    const json::value doc = json::parse(json_text, ec);
    if (ec) {
        report.fatal = "not valid JSON: " + ec.message();
        return report;
    }
    const json::array* vectors = nullptr;
    if (doc.is_object() && doc.get_object().if_contains("vectors") && doc.at("vectors").is_array())
        vectors = &doc.at("vectors").get_array();
    else if (doc.is_array())
        vectors = &doc.get_array();
    if (!vectors) {
        report.fatal = "expected an object with a \"vectors\" array";
        return report;
    }
    for (const json::value& v : *vectors) {
        if (!v.is_object() || !v.get_object().if_contains("protocol_name") || !v.at("protocol_name").is_string()) {
            ++report.failed;
            report.failures.push_back("(vector without protocol_name)");
            continue;
        }
        const std::string name(v.at("protocol_name").get_string());
        // Fallback and hybrid-forward-secrecy vectors are out of scope.
        if (v.get_object().if_contains("fallback") || v.get_object().if_contains("fail")) {
            ++report.skipped;
            continue;
        }
        auto protocol = parse_protocol_name(name);
        if (!protocol) {
            ++report.skipped;
            continue;
        }
        if (auto ok = run_one(v.get_object(), *protocol); ok) {
            ++report.passed;
        } else {
            ++report.failed;
            report.failures.push_back(name + ": " + ok.error().what);
        }
    }
    return report;
}

}  // namespace conet::crypto::noise
