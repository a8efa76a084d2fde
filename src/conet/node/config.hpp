#pragma once
/// The relay's configuration file (DIR/node.toml). Every option is declared
/// once (name, default, help, validation) in config.cpp; `annotated_config`
/// writes the documented file from those declarations and `load_config` parses
/// it into an immutable typed struct.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "conet/ledger/node_record.hpp"
#include "conet/relay/exit_policy.hpp"
#include "conet/util/limits.hpp"

namespace conet::node {

struct NodeConfig {
    std::string wallet_keystore;
    ledger::Endpoint listen{"127.0.0.1", 9001};
    std::string advertise;  ///< host:port in the record; empty = listen
    std::string region = "ZZ";
    bool exit = true;
    std::vector<relay::Cidr> exit_allow;
    std::string directory;               ///< JSON file of signed node records
    std::string metrics;                 ///< host:port of the status port (dashboard, /status, /metrics); empty = off
    std::vector<std::string> web_hosts;  ///< names the dashboards answer to besides loopback (docs/web.md)
    std::uint64_t record_ttl_seconds = 7 * 24 * 3600;
    std::uint64_t chain_id = ledger::default_chain_id;
    bool validator = false;  ///< produce blocks (needs the wallet password at run)
    std::string genesis;     ///< genesis JSON file (validator)
    std::string rpc;         ///< host:port for JSON-RPC; empty = off
    std::uint32_t block_interval_ms = 1000;
    /// Consensus addresses (host:port) of every genesis validator, in genesis
    /// order; this validator listens on its own entry. Empty = one validator.
    std::vector<std::string> validator_peers;
    /// A validator outside the genesis set (it joins by bonding): where its
    /// consensus transport listens (host:port, the endpoint its bond names).
    std::string validator_listen;
    /// Validator: probe the nodes assigned to it each epoch (docs/incentives.md).
    bool probe = false;
    /// Where the probes' echo destination listens (ip:port; port 0 = any).
    std::string probe_echo = "127.0.0.1:0";
    /// Exit on a chain with a usage price: MiB a wallet may use beyond its
    /// receipts before it is cut off (docs/incentives.md "Paid usage").
    std::uint32_t usage_credit_mib = 64;
    /// Exit: KiB/s each circuit without a wallet's receipts may carry (the
    /// free tier); 0 = no free tier, such circuits cannot open streams.
    std::uint32_t free_tier_kbps = 0;
    /// Follower: validators' JSON-RPC URLs to keep a verified copy of the chain
    /// from (served on `rpc`); empty = off. Not with `validator`.
    std::vector<std::string> follow;
    std::string ledger_rpc;  ///< validator JSON-RPC URL: register here and learn relays; empty = off
    std::uint32_t ledger_refresh_seconds = 60;
    /// Extend circuits to relays whose records name loopback/private addresses (devnet, tests).
    bool allow_private_relays = false;
    util::Limits limits;  ///< the [limits] table
};

inline constexpr const char* config_file_name = "node.toml";
inline constexpr const char* noise_key_file_name = "noise_key";

/// Writes the full, commented config for `c`.
std::string annotated_config(const NodeConfig& c);
/// Larger config files are refused before parsing.
inline constexpr std::size_t max_config_bytes = 1 << 20;
/// Reads `file` and parses it with parse_config.
util::Result<NodeConfig, std::string> load_config(const std::filesystem::path& file);
/// Parses node.toml text (I/O-free); `source` (the file name) prefixes error
/// messages. Any bytes give a config or an error, never an exception.
util::Result<NodeConfig, std::string> parse_config(std::string_view text, std::string_view source);
util::Result<ledger::Endpoint, std::string> parse_host_port(std::string_view text);

}  // namespace conet::node
