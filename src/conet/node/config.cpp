#include "conet/node/config.hpp"

#include <toml++/toml.h>

#include <functional>
#include <sstream>

#include "conet/util/file.hpp"

namespace conet::node {

namespace {

/// One declared option: how to print it and how to read it back.
struct Option {
    const char* name;
    const char* help;
    std::function<std::string(const NodeConfig&)> render;                            ///< TOML value text
    std::function<std::optional<std::string>(const toml::node&, NodeConfig&)> read;  ///< error or nullopt
};

std::string quote(const std::string& s) {
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
}

template <class F>
std::function<std::optional<std::string>(const toml::node&, NodeConfig&)> read_string(F apply) {
    return [apply](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
        auto v = n.value<std::string>();
        if (!v) return "must be a string";
        return apply(*v, c);
    };
}

/// An array of strings in a NodeConfig member: written as a TOML array, read
/// back with each element checked by `check` (an error message or nullopt).
std::function<std::string(const NodeConfig&)> render_strings(std::vector<std::string> NodeConfig::*member) {
    return [member](const NodeConfig& c) {
        std::string s = "[";
        const auto& v = c.*member;
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + quote(v[i]);
        return s + "]";
    };
}

std::function<std::optional<std::string>(const toml::node&, NodeConfig&)> read_strings(
    std::vector<std::string> NodeConfig::*member, std::string what,
    std::function<std::optional<std::string>(const std::string&)> check) {
    return [member, what, check](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
        const auto* arr = n.as_array();
        if (!arr) return "must be an array of " + what;
        std::vector<std::string> out;
        for (const auto& e : *arr) {
            auto s = e.value<std::string>();
            if (!s) return "must be an array of " + what;
            if (auto err = check(*s)) return err;
            out.push_back(*s);
        }
        c.*member = std::move(out);
        return std::nullopt;
    };
}

const std::vector<Option>& options() {
    static const std::vector<Option> table = {
        {"wallet_keystore", "Operator wallet (Ethereum keystore v3) that signs this node's record.",
         [](const NodeConfig& c) { return quote(c.wallet_keystore); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (v.empty()) return "must not be empty";
             c.wallet_keystore = v;
             return std::nullopt;
         })},
        {"listen", "Address and port to accept links on (users and relays).",
         [](const NodeConfig& c) { return quote(c.listen.to_string()); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             auto ep = parse_host_port(v);
             if (!ep) return ep.error();
             c.listen = *ep;
             return std::nullopt;
         })},
        {"advertise", "host:port published in the node record; empty = the listen address.",
         [](const NodeConfig& c) { return quote(c.advertise); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (!v.empty()) {
                 auto ep = parse_host_port(v);
                 if (!ep) return ep.error();
             }
             c.advertise = v;
             return std::nullopt;
         })},
        {"region", "Region published in the node record (ISO 3166 alpha-2, e.g. \"DE\").",
         [](const NodeConfig& c) { return quote(c.region); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (v.size() != 2 || !std::isupper(static_cast<unsigned char>(v[0])) ||
                 !std::isupper(static_cast<unsigned char>(v[1])))
                 return "must be two upper-case letters";
             c.region = v;
             return std::nullopt;
         })},
        {"exit", "Serve as an exit (connect to destinations). Entry service is always on.",
         [](const NodeConfig& c) { return std::string(c.exit ? "true" : "false"); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<bool>();
             if (!v) return "must be true or false";
             c.exit = *v;
             return std::nullopt;
         }},
        {"exit_allow",
         "Destination ranges (CIDR) the exit may reach although the default policy refuses them\n"
         "# (loopback, private, link-local, CGNAT, multicast, unspecified, own addresses). For tests and demos.",
         [](const NodeConfig& c) {
             std::string s = "[";
             for (std::size_t i = 0; i < c.exit_allow.size(); ++i)
                 s += (i ? ", " : "") + quote(c.exit_allow[i].to_string());
             return s + "]";
         },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             const auto* arr = n.as_array();
             if (!arr) return "must be an array of CIDR strings";
             c.exit_allow.clear();
             for (const auto& e : *arr) {
                 auto s = e.value<std::string>();
                 if (!s) return "must be an array of CIDR strings";
                 auto cidr = relay::Cidr::parse(*s);
                 if (!cidr) return std::string(relay::describe(cidr.error())) + ": " + *s;
                 c.exit_allow.push_back(*cidr);
             }
             return std::nullopt;
         }},
        {"allow_private_relays",
         "Extend circuits to relays whose records name loopback or private addresses.\n"
         "# Only for a devnet or tests on one machine; public relays must refuse them.",
         [](const NodeConfig& c) { return std::string(c.allow_private_relays ? "true" : "false"); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<bool>();
             if (!v) return "must be true or false";
             c.allow_private_relays = *v;
             return std::nullopt;
         }},
        {"directory",
         "JSON array of signed node records: the relays this node accepts relay links from\n"
         "# and extends circuits to. Empty = none (entry-only for one-hop tests).",
         [](const NodeConfig& c) { return quote(c.directory); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             c.directory = v;
             return std::nullopt;
         })},
        {"metrics",
         "host:port of the status port: the operator dashboard at /, /status, Prometheus metrics at\n"
         "# /metrics, /health; empty = off.",
         [](const NodeConfig& c) { return quote(c.metrics); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (!v.empty()) {
                 auto ep = parse_host_port(v);
                 if (!ep) return ep.error();
             }
             c.metrics = v;
             return std::nullopt;
         })},
        {"web_hosts",
         "Host names under which the dashboards (the status port's and the explorer at the rpc port's /)\n"
         "# answer, besides 127.0.0.1, localhost, [::1] and the address reached (DNS-rebinding guard).",
         [](const NodeConfig& c) {
             std::string s = "[";
             for (std::size_t i = 0; i < c.web_hosts.size(); ++i) s += (i ? ", " : "") + quote(c.web_hosts[i]);
             return s + "]";
         },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             const auto* arr = n.as_array();
             if (!arr) return "must be an array of host names";
             c.web_hosts.clear();
             for (const auto& e : *arr) {
                 auto s = e.value<std::string>();
                 if (!s || s->empty() || s->size() > 253 || s->find_first_of(" /:[]@") != std::string::npos)
                     return "must be an array of host names (no port, no scheme)";
                 c.web_hosts.push_back(*s);
             }
             return std::nullopt;
         }},
        {"record_ttl_seconds", "Lifetime of a signed node record, in seconds.",
         [](const NodeConfig& c) { return std::to_string(c.record_ttl_seconds); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 60) return "must be an integer >= 60";
             c.record_ttl_seconds = static_cast<std::uint64_t>(*v);
             return std::nullopt;
         }},
        {"chain_id", "Chain id bound into signatures (must match the network's).",
         [](const NodeConfig& c) { return std::to_string(c.chain_id); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 0) return "must be a non-negative integer";
             c.chain_id = static_cast<std::uint64_t>(*v);
             return std::nullopt;
         }},
        {"validator",
         "Run the validator role: take part in consensus (Simplex, docs/consensus.md) with the\n"
         "# validators of the genesis, proposing a block at most every block_interval_ms\n"
         "# (the wallet above is the validator key; it must be listed in the genesis).",
         [](const NodeConfig& c) { return std::string(c.validator ? "true" : "false"); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<bool>();
             if (!v) return "must be true or false";
             c.validator = *v;
             return std::nullopt;
         }},
        {"genesis", "Genesis JSON file (chain id, validators, balances, parameters).",
         [](const NodeConfig& c) { return quote(c.genesis); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             c.genesis = v;
             return std::nullopt;
         })},
        {"rpc", "host:port serving JSON-RPC 2.0 (POST /); empty = off.",
         [](const NodeConfig& c) { return quote(c.rpc); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (!v.empty()) {
                 auto ep = parse_host_port(v);
                 if (!ep) return ep.error();
             }
             c.rpc = v;
             return std::nullopt;
         })},
        {"ledger_rpc",
         "JSON-RPC URL of a validator (http://host:port). When set, this relay registers its record\n"
         "# on the ledger (and renews it), and learns the other relays from the ledger, trusting only\n"
         "# answers certified by the validators (each epoch's set proven from genesis). Needs genesis and the\n"
         "# wallet password at run.",
         [](const NodeConfig& c) { return quote(c.ledger_rpc); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (!v.empty() && v.rfind("http://", 0) != 0) return "must start with http://";
             c.ledger_rpc = v;
             return std::nullopt;
         })},
        {"ledger_refresh_seconds", "Seconds between ledger refreshes (registration check and relay list).",
         [](const NodeConfig& c) { return std::to_string(c.ledger_refresh_seconds); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 1 || *v > 86'400) return "must be an integer from 1 to 86400";
             c.ledger_refresh_seconds = static_cast<std::uint32_t>(*v);
             return std::nullopt;
         }},
        {"usage_credit_mib",
         "Exit, on a chain with a usage price: MiB a wallet may use beyond the receipts it has sent\n"
         "# before the exit cuts it off (covers the data in flight between receipts).",
         [](const NodeConfig& c) { return std::to_string(c.usage_credit_mib); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 1 || *v > 65'536) return "must be an integer from 1 to 65536";
             c.usage_credit_mib = static_cast<std::uint32_t>(*v);
             return std::nullopt;
         }},
        {"free_tier_kbps",
         "Exit, on a chain with a usage price: KiB/s each circuit without a wallet's receipts may carry\n"
         "# (the free tier); 0 = none: such circuits are refused with \"payment required\".",
         [](const NodeConfig& c) { return std::to_string(c.free_tier_kbps); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 0 || *v > 10'000'000) return "must be an integer from 0 to 10000000";
             c.free_tier_kbps = static_cast<std::uint32_t>(*v);
             return std::nullopt;
         }},
        {"block_interval_ms", "Milliseconds between blocks (validator).",
         [](const NodeConfig& c) { return std::to_string(c.block_interval_ms); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<std::int64_t>();
             if (!v || *v < 10 || *v > 3'600'000) return "must be an integer from 10 to 3600000";
             c.block_interval_ms = static_cast<std::uint32_t>(*v);
             return std::nullopt;
         }},
        {"validator_peers",
         "Consensus addresses (\"host:port\") of every genesis validator, in the genesis order;\n"
         "# this validator listens on its own entry and dials the others. Empty = a one-validator chain.",
         render_strings(&NodeConfig::validator_peers),
         read_strings(&NodeConfig::validator_peers, "\"host:port\" strings",
                      [](const std::string& s) -> std::optional<std::string> {
                          auto ep = parse_host_port(s);
                          if (!ep) return ep.error();
                          return std::nullopt;
                      })},
        {"validator_listen",
         "A validator that is not in the genesis (it joins the set by bonding, `conet tx validator-bond`):\n"
         "# the consensus address (\"host:port\") it listens on, the endpoint its bond names. Empty for\n"
         "# genesis validators (they listen on their validator_peers entry).",
         [](const NodeConfig& c) { return quote(c.validator_listen); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             if (!v.empty())
                 if (auto ep = parse_host_port(v); !ep) return ep.error();
             c.validator_listen = v;
             return std::nullopt;
         })},
        {"probe",
         "Validator: each epoch, probe the nodes the ledger assigns to this validator (a circuit through\n"
         "# each carrying a challenge to probe_echo) and report the results (docs/incentives.md). Needs a\n"
         "# probe_echo the network's exits can reach.",
         [](const NodeConfig& c) { return std::string(c.probe ? "true" : "false"); },
         [](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
             auto v = n.value<bool>();
             if (!v) return "must be true or false";
             c.probe = *v;
             return std::nullopt;
         }},
        {"probe_echo",
         "Validator with probe: the address (\"ip:port\", port 0 = any free port) of the echo destination\n"
         "# its probes' streams go to through each node; exits must be allowed to connect to it.",
         [](const NodeConfig& c) { return quote(c.probe_echo); },
         read_string([](const std::string& v, NodeConfig& c) -> std::optional<std::string> {
             auto ep = parse_host_port(v);
             if (!ep) return ep.error();
             c.probe_echo = v;
             return std::nullopt;
         })},
        {"follow",
         "Follower: JSON-RPC URLs (http://host:port) of validators to keep a verified copy of the chain\n"
         "# from; every block is executed here and accepted only under a quorum certificate of its epoch's\n"
         "# validator set, and the chain is served on rpc. Empty = off. Needs genesis; not with validator.",
         render_strings(&NodeConfig::follow),
         read_strings(&NodeConfig::follow, "http:// URLs",
                      [](const std::string& s) -> std::optional<std::string> {
                          if (s.rfind("http://", 0) != 0) return "must be an array of http:// URLs";
                          return std::nullopt;
                      })},
    };
    return table;
}

/// Reads the [limits] table; an error starts with the option's name.
std::optional<std::string> read_limits(const toml::node& node, util::Limits& limits) {
    const auto* table = node.as_table();
    if (!table) return std::string("limits must be a table");
    for (auto&& [key, value] : *table) {
        const std::string name(key.str());
        const auto fields = util::limit_fields();
        const auto it =
            std::find_if(fields.begin(), fields.end(), [&](const util::LimitField& f) { return name == f.name; });
        if (it == fields.end()) return name + ": unknown limit";
        auto v = value.value<std::int64_t>();
        if (!v || *v < 0) return name + ": must be a non-negative integer";
        limits.*(it->member) = static_cast<std::uint64_t>(*v);
    }
    if (auto err = limits.check()) return *err;
    return std::nullopt;
}

}  // namespace

util::Result<ledger::Endpoint, std::string> parse_host_port(std::string_view text) {
    return ledger::Endpoint::parse(text, /*allow_zero_port=*/true);
}

std::string annotated_config(const NodeConfig& c) {
    std::string out =
        "# CONET relay configuration, written by `conet node init`.\n"
        "# Every option is listed; the values shown are this node's settings.\n";
    for (const auto& o : options()) out += "\n# " + std::string(o.help) + "\n" + o.name + " = " + o.render(c) + "\n";
    out +=
        "\n# Budgets: every limit a peer can push against (docs/security.md). A commented line\n"
        "# shows the default; uncomment it to change the value.\n[limits]\n";
    const util::Limits defaults;
    for (const auto& f : util::limit_fields()) {
        const std::uint64_t v = c.limits.*f.member;
        out += "# " + std::string(f.help) + "\n" + (v == defaults.*f.member ? "# " : "") + f.name + " = " +
               std::to_string(v) + "\n";
    }
    return out;
}

util::Result<NodeConfig, std::string> load_config(const std::filesystem::path& file) {
    auto text = util::read_file(file, max_config_bytes);
    if (!text) return util::unexpected(text.error().message());
    return parse_config(*text, file.string());
}

util::Result<NodeConfig, std::string> parse_config(std::string_view text, std::string_view source) {
    const std::string file(source);
    if (text.size() > max_config_bytes) return util::unexpected(file + ": file too large");
    toml::table table;
    try {
        table = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        std::ostringstream err;
        err << e;
        return util::unexpected(err.str());
    }
    NodeConfig c;
    for (auto&& [key, node] : table) {
        const std::string name(key.str());
        if (name == "limits") {
            if (auto err = read_limits(node, c.limits)) return util::unexpected(file + ": limits." + *err);
            continue;
        }
        const auto it =
            std::find_if(options().begin(), options().end(), [&](const Option& o) { return name == o.name; });
        if (it == options().end()) return util::unexpected(file + ": unknown option \"" + name + "\"");
        if (auto err = it->read(node, c)) return util::unexpected(file + ": " + it->name + ": " + *err);
    }
    if (c.wallet_keystore.empty()) return util::unexpected(file + ": wallet_keystore is required");
    if ((c.validator || !c.ledger_rpc.empty() || !c.follow.empty()) && c.genesis.empty())
        return util::unexpected(file + ": genesis is required with validator, ledger_rpc or follow");
    return c;
}

}  // namespace conet::node
