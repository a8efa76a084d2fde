#pragma once
/// Learning relays from any validator's JSON-RPC without trusting it: the
/// header must carry a quorum certificate of its epoch's validator set
/// (proven from genesis, node/header_check.hpp), and each
/// node record must come with a Merkle proof against that header's state root
/// and verify under its operator's signature. Anything else is refused.
///
/// Bounded against a hostile or dead endpoint: every call has a deadline, all
/// the calls to one endpoint share a second one, the node list is read in at
/// most `max_list_pages` pages and reading stops at a page that brings no new
/// valid key; several endpoints are asked in parallel, so one that never
/// answers delays the union by at most its deadline and cannot hide the
/// others' answers.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "conet/ledger/chain.hpp"
#include "conet/util/limits.hpp"

namespace conet::node {

/// A head older than this is refused: a dead chain or an RPC replaying an old,
/// validly certified block (whose records may be stale).
inline constexpr std::uint64_t default_max_header_age_s = 600;

/// conet_listNodes page size asked for, and the most relays taken from one endpoint.
inline constexpr std::uint64_t list_page_size = 500;
inline constexpr std::size_t max_relays_per_endpoint = 10'000;
/// Pages read from one endpoint at most (enough for max_relays_per_endpoint).
inline constexpr std::size_t max_list_pages = max_relays_per_endpoint / list_page_size + 1;
/// Endpoints asked at once (one thread each); further --rpc URLs wait their turn.
inline constexpr std::size_t max_parallel_endpoints = 16;

struct DiscoveryOptions {
    std::uint64_t max_header_age_s = default_max_header_age_s;
    /// Deadline of each RPC call.
    std::uint32_t call_timeout_ms = static_cast<std::uint32_t>(util::Limits{}.rpc_client_timeout_ms);
    /// Deadline of all the calls to one endpoint together (a slow endpoint
    /// that answers each call just in time still ends here); what verified
    /// before it is kept.
    std::uint32_t endpoint_timeout_ms = 60'000;
    /// Asked between calls and while waiting (from any thread); true stops
    /// discovery at once, e.g. at shutdown. May be empty.
    std::function<bool()> cancelled;
};

/// One conet_listNodes call: (offset, limit) -> its result, or why it failed.
using PageFetcher =
    std::function<util::Result<boost::json::value, std::string>(std::uint64_t offset, std::uint64_t limit)>;

struct NodeListing {
    std::vector<crypto::X25519Public> keys;  ///< distinct, in the order listed
    std::size_t pages = 0;                   ///< pages fetched
    std::optional<std::string> cut_short;    ///< why the listing stopped before its end, if it did
};

/// Walks the node list (the I/O is `fetch`'s): at most `max_list_pages`
/// pages and `max_relays_per_endpoint` keys; a page larger than asked is an
/// error; a page that brings no new valid key ends the walk (a page of junk
/// or of repeats says nothing more will come), as does a short page.
util::Result<NodeListing, std::string> list_node_keys(const PageFetcher& fetch);

/// Blocking (never on an io thread). `refused` gets one line per refused
/// answer. Proofs must come from the verified head or a later block.
util::Result<ledger::Directory, std::string> discover_relays(const std::string& rpc_url, const ledger::Genesis& genesis,
                                                             std::uint64_t now_unix, std::vector<std::string>& refused,
                                                             const DiscoveryOptions& options = {});

/// Asks every endpoint (in parallel) and keeps the union of what verifies, so
/// one endpoint that withholds records cannot hide them (for a node answered
/// by several, the record that expires last), and one that never answers
/// cannot stall the rest. Fails only when none gives a verified head.
util::Result<ledger::Directory, std::string> discover_relays(const std::vector<std::string>& rpc_urls,
                                                             const ledger::Genesis& genesis, std::uint64_t now_unix,
                                                             std::vector<std::string>& refused,
                                                             const DiscoveryOptions& options = {});

}  // namespace conet::node
