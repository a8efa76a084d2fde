#include "conet/ledger/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <map>

#include "conet/codec/codec.hpp"

namespace conet::ledger {

namespace {

std::string be64(std::uint64_t v) {
    std::string s;
    codec::append_be(s, v);
    return s;
}

std::uint64_t read_be64(std::string_view s) {
    CONET_ASSERT(s.size() >= 8);
    return codec::load_be<std::uint64_t>(s.data());
}

std::string key(std::string_view space, util::ByteView id) {
    return std::string(space) + std::string(util::as_chars(id));
}
std::string block_key(std::uint64_t height) {
    return "block/" + be64(height);
}

const std::string k_genesis = "meta/genesis";
/// keccak256 of the genesis as given (genesis_input_digest), once it was checked against meta/genesis.
const std::string k_genesis_input = "meta/genesis_input";
const std::string k_head = "meta/head";

std::string to_string(const util::Bytes& b) {
    return std::string(util::as_chars(b));
}

/// A digest of everything a Genesis holds (not a consensus value: only this
/// store compares it, to skip recomputing the genesis state at open).
std::string genesis_input_digest(const Genesis& g) {
    // The domain goes straight into the hash (the same bytes as writing it
    // first): GCC 12 took a fixed write into the empty Writer for an overflow.
    codec::Writer w;
    w.u64(g.chain_id);
    w.u64(g.time_unix);
    w.u64(g.validators.size());
    for (const auto& v : g.validators) w.fixed(v.bytes);
    w.u64(g.balances.size());
    for (const auto& [a, amount] : g.balances) {
        w.fixed(a.bytes);
        w.u64(amount);
    }
    g.params.encode(w);  // with the epoch and validator-set parameters
    w.u64(g.validator_stake);
    crypto::Keccak256 h;
    h.update(util::as_bytes(std::string_view("CONET/GenesisInput/v1"))).update(w.data());
    return std::string(util::as_chars(h.finish()));
}

// The state is stored as entries, so a block writes only what it changed:
//   state/meta              u64 chain_id | params (4 × u64)        written with genesis
//   state/acct/<address>    u64 balance | u64 nonce | u64 prepaid
//   state/node/<noise key>  NodeRecord | u64 stake
//   state/pending           u32 count | (address | u64 amount | u64 release_height)*
//   state/bond/<address>    u64 stake | text endpoint
//   state/valset            the set of the next block's epoch (ValidatorSet)
//   state/epoch             EpochInfo: the next block's epoch, its probe seed, the last epoch paid
//   state/reward/<address>  RewardRecord: the address's latest reward
//   state/grant/<id>        Grant: a developer-fund grant (id: its proposal's transaction id)
//   state/usage/<key>       UsageRecord: usage an exit claimed (key: usage_record_key), while claimable
//   epoch/<u64 epoch>       each paid epoch's EpochSummary, kept for ever (`conet query epoch`)
//   reward/<u64 epoch><address>  each reward, kept for ever (`conet query rewards --epoch`)
//   valset/<u64 epoch>      each epoch's set, kept for ever (consensus and light clients)
//   valproof/<u64 epoch>    its proof in the state tree after the block that stored it (height
//                           epoch·E, genesis for 0): u32 n | n × 32 siblings | u8 leaf? | key | value
// and so are the state's Merkle tree's leaves, one entry per leaf
// (SparseMerkleTree::Position; docs/ledger.md):
//   smt/<32-byte key><u16 256>   value hash | leaf hash
//   meta/smt                "2": the tree's leaves are stored, and nothing else.
//                           "1" (before 2026-12): branches were stored too, under
//                           smt/<path prefix><u16 depth>; opening deletes them once.
//                           Absent (older): no tree; opening rebuilds it once.
const std::string k_state_meta = "state/meta";
const std::string k_state_pending = "state/pending";
const std::string k_state_valset = "state/valset";
const std::string k_state_epoch = "state/epoch";
const std::string p_reward = "state/reward/";
const std::string p_grant = "state/grant/";
const std::string p_usage = "state/usage/";
const std::string p_epoch_history = "epoch/";
const std::string p_reward_history = "reward/";
const std::string p_score_history = "score/";  ///< + node key + be64 epoch
const std::string p_fee_history = "fee/";      ///< + be64 epoch + address + be64 height: usage fees earned
const std::string p_bond = "state/bond/";
const std::string p_valset = "valset/";
const std::string p_valproof = "valproof/";

std::string encode_proof(const SmtProof& p) {
    codec::Writer w;
    w.count(p.siblings.size());
    for (const auto& s : p.siblings) w.fixed(s);
    w.u8(p.leaf ? 1 : 0);
    if (p.leaf) {
        w.fixed(p.leaf->first);
        w.fixed(p.leaf->second);
    }
    return std::string(util::as_chars(w.data()));
}

std::optional<SmtProof> decode_proof(std::string_view bytes) {
    codec::Reader r(util::as_bytes(bytes));
    SmtProof p;
    auto n = r.count(256);
    if (!n) return std::nullopt;
    for (std::size_t i = 0; i < *n; ++i) {
        auto s = r.fixed<32>();
        if (!s) return std::nullopt;
        p.siblings.push_back(*s);
    }
    auto has_leaf = r.u8();
    if (!has_leaf || *has_leaf > 1) return std::nullopt;
    if (*has_leaf) {
        auto k = r.fixed<32>();
        auto v = k ? r.fixed<32>() : k;
        if (!v) return std::nullopt;
        p.leaf.emplace(*k, *v);
    }
    if (r.remaining() != 0) return std::nullopt;
    return p;
}
const std::string p_account = "state/acct/";
const std::string p_node = "state/node/";
const std::string p_smt = "smt/";
const std::string k_smt_stored = "meta/smt";
const std::string smt_format_leaves = "2";
const std::string smt_format_all_nodes = "1";

template <codec::Encodable T>
std::string encoded(const T& v) {
    return to_string(codec::encode(v));
}

std::string encode_pending(const std::vector<Pending>& pending) {
    codec::Writer w;
    ledger::encode_pending(w, pending);
    return to_string(w.data());
}

std::string encode_meta(const State& s) {
    codec::Writer w;
    w.u64(s.chain_id());
    s.params().encode(w);
    return to_string(w.data());
}

util::ByteView key_bytes(const crypto::X25519Public& k) {
    return k;
}
util::ByteView key_bytes(const crypto::Address& a) {
    return a.bytes;
}

/// Puts every entry of `after` that differs from `before`, deletes the ones it lost.
template <class K, class V, class Encode>
void write_changed(rocksdb::WriteBatch& batch, const std::string& prefix, const std::map<K, V>& before,
                   const std::map<K, V>& after, Encode encode) {
    auto key_of = [&](const K& k) { return prefix + std::string(util::as_chars(key_bytes(k))); };
    auto b = before.begin();
    for (const auto& [k, v] : after) {
        while (b != before.end() && b->first < k) batch.Delete(key_of((b++)->first));
        const bool same = b != before.end() && b->first == k && encode(b->second) == encode(v);
        if (!same) batch.Put(key_of(k), encode(v));
        if (b != before.end() && b->first == k) ++b;
    }
    for (; b != before.end(); ++b) batch.Delete(key_of(b->first));
}

ScoreHistoryEntry score_entry(const NodeService& s) {
    return {s.scored_epoch, s.reports, s.score_bps, s.reward, s.failed_epochs, s.jailed};
}

/// be64 epoch | be32 reports | be32 score_bps | be64 reward | be32 failed_epochs | u8 jailed.
std::string encode_score(const ScoreHistoryEntry& e) {
    std::string out;
    codec::append_be(out, e.epoch);
    codec::append_be(out, e.reports);
    codec::append_be(out, e.score_bps);
    codec::append_be(out, e.reward);
    codec::append_be(out, e.failed_epochs);
    out.push_back(e.jailed ? '\1' : '\0');
    return out;
}

std::optional<ScoreHistoryEntry> decode_score(std::string_view v) {
    if (v.size() != 29) return std::nullopt;
    ScoreHistoryEntry e;
    e.epoch = codec::load_be<std::uint64_t>(v.data());
    e.reports = codec::load_be<std::uint32_t>(v.data() + 8);
    e.score_bps = codec::load_be<std::uint32_t>(v.data() + 12);
    e.reward = codec::load_be<std::uint64_t>(v.data() + 16);
    e.failed_epochs = codec::load_be<std::uint32_t>(v.data() + 24);
    e.jailed = v[28] != 0;
    return e;
}

std::string smt_key(const SparseMerkleTree::Position& p) {
    return p_smt + std::string(util::as_chars(util::ByteView(p)));
}

void write_tree_changes(rocksdb::WriteBatch& batch, const SparseMerkleTree& before, const SparseMerkleTree& after) {
    SparseMerkleTree::diff(
        before, after,
        [&](const SparseMerkleTree::Position& p, util::ByteView v) {
            batch.Put(smt_key(p), std::string(util::as_chars(v)));
        },
        [&](const SparseMerkleTree::Position& p) { batch.Delete(smt_key(p)); });
}

/// Writes the entries that changed from `before` to `after`: O(changed
/// entries), since both share whatever did not change.
void write_entry_changes(rocksdb::WriteBatch& batch, const State& before, const State& after) {
    AccountTrie::diff(before.accounts(), after.accounts(),
                      [&](const AccountTrie::NodeT* old_node, const AccountTrie::NodeT* new_node) {
                          const auto key_of = [](const AccountTrie::NodeT* n) {
                              return p_account + std::string(util::as_chars(util::ByteView(n->key)));
                          };
                          if (new_node && new_node->is_leaf()) {
                              const Account& v = AccountTrie::as_leaf(new_node)->value;
                              if (!old_node || AccountTrie::as_leaf(old_node)->value != v)
                                  batch.Put(key_of(new_node), encoded<Account>(v));
                          } else if (old_node && old_node->is_leaf()) {
                              batch.Delete(key_of(old_node));
                          }
                      });
    UsageTrie::diff(before.usage(), after.usage(),
                    [&](const UsageTrie::NodeT* old_node, const UsageTrie::NodeT* new_node) {
                        const auto key_of = [](const UsageTrie::NodeT* n) {
                            return p_usage + std::string(util::as_chars(util::ByteView(n->key)));
                        };
                        if (new_node && new_node->is_leaf()) {
                            const UsageRecord& v = UsageTrie::as_leaf(new_node)->value;
                            if (!old_node || UsageTrie::as_leaf(old_node)->value != v)
                                batch.Put(key_of(new_node), encoded<UsageRecord>(v));
                        } else if (old_node && old_node->is_leaf()) {
                            batch.Delete(key_of(old_node));
                        }
                    });
    if (&before.nodes() != &after.nodes()) {  // the registry is shared until a copy changes it
        write_changed(batch, p_node, before.nodes(), after.nodes(), encoded<NodeEntry>);
        for (const auto& [k, e] : after.nodes()) {
            if (!e.service.scored) continue;
            const auto entry = score_entry(e.service);
            const auto old = before.nodes().find(k);
            if (old != before.nodes().end() && old->second.service.scored && score_entry(old->second.service) == entry)
                continue;
            batch.Put(p_score_history + std::string(util::as_chars(key_bytes(k))) + be64(entry.epoch),
                      encode_score(entry));
        }
    }
    if (before.pending() != after.pending()) batch.Put(k_state_pending, encode_pending(after.pending()));
    if (&before.bonds() != &after.bonds())
        write_changed(batch, p_bond, before.bonds(), after.bonds(), encoded<ValidatorBond>);
    if (&before.rewards() != &after.rewards()) {
        write_changed(batch, p_reward, before.rewards(), after.rewards(), encoded<RewardRecord>);
        for (const auto& [a, rec] : after.rewards()) {
            const RewardRecord* old = before.reward(a);
            if (!old || *old != rec)
                batch.Put(p_reward_history + be64(rec.epoch) + std::string(util::as_chars(util::ByteView(a.bytes))),
                          encoded<RewardRecord>(rec));
        }
    }
    if (&before.grants() != &after.grants())
        write_changed(batch, p_grant, before.grants(), after.grants(), encoded<Grant>);
    if (before.epoch_info() != after.epoch_info()) {
        batch.Put(k_state_epoch, encoded<EpochInfo>(after.epoch_info()));
        if (const auto& last = after.epoch_info().last; last && last != before.epoch_info().last)
            batch.Put(p_epoch_history + be64(last->epoch), encoded<EpochSummary>(*last));
    }
    if (before.validator_set() != after.validator_set()) {
        const std::string set = encoded<ValidatorSet>(after.validator_set());
        batch.Put(k_state_valset, set);
        batch.Put(p_valset + be64(after.validator_set().epoch), set);
        batch.Put(p_valproof + be64(after.validator_set().epoch),
                  encode_proof(after.tree().prove(State::validator_set_key())));
    }
}

/// The usage fees each operator earned in a block, by the epoch of the usage:
/// each claimed record's increase, priced and split as the claim paid it
/// (State::plan_usage_claim), the entry's share to the fund when the entry
/// has left the registry.
void write_fee_history(rocksdb::WriteBatch& batch, const State& before, const State& after, std::uint64_t height) {
    const IncentiveParams& ip = after.params().incentives;
    if (ip.usage_price_per_mib == 0) return;
    std::map<std::pair<std::uint64_t, crypto::Address>, std::uint64_t> earned;
    UsageTrie::diff(
        before.usage(), after.usage(), [&](const UsageTrie::NodeT* old_node, const UsageTrie::NodeT* new_node) {
            if (!new_node || !new_node->is_leaf()) return;
            const UsageRecord& now = UsageTrie::as_leaf(new_node)->value;
            std::uint64_t was = 0;
            if (old_node && old_node->is_leaf()) {
                const UsageRecord& old = UsageTrie::as_leaf(old_node)->value;
                if (old.epoch == now.epoch && old.exit == now.exit && old.payer == now.payer && old.entry == now.entry)
                    was = old.bytes;
            }
            const auto cost_now = usage_cost(now.bytes, ip.usage_price_per_mib);
            const auto cost_was = usage_cost(was, ip.usage_price_per_mib);
            if (now.bytes <= was || !cost_now || !cost_was) return;
            const UsageSplit split = split_usage_fee(*cost_now - *cost_was, ip);
            const NodeEntry* entry = after.node(now.entry);
            const NodeEntry* exit = after.node(now.exit);
            earned[{now.epoch, entry ? entry->record.operator_address : developer_fund_address()}] += split.entry;
            if (exit) earned[{now.epoch, exit->record.operator_address}] += split.exit;
        });
    for (const auto& [k, amount] : earned)
        if (amount > 0)
            batch.Put(p_fee_history + be64(k.first) + std::string(util::as_chars(util::ByteView(k.second.bytes))) +
                          be64(height),
                      be64(amount));
}

/// Entries and tree leaves: O(changed entries) writes, found in O(changed nodes).
void write_state_changes(rocksdb::WriteBatch& batch, const State& before, const State& after) {
    write_entry_changes(batch, before, after);
    write_tree_changes(batch, before.tree(), after.tree());
}

/// A store whose tree format is "1" (every node stored) keeps only its leaves
/// from now on: its branch entries are deleted in one synced batch.
util::Result<void, std::string> migrate_tree_to_leaves(rocksdb::DB& db) {
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(p_smt); it->Valid() && it->key().starts_with(p_smt); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_smt.size());
        if (k.size() != std::tuple_size_v<SparseMerkleTree::Position>)
            return util::unexpected(std::string("block store is corrupt (state tree node)"));
        const std::size_t depth = codec::load_be<std::uint16_t>(k.data() + 32);
        if (depth != SparseMerkleTree::leaf_depth) batch.Delete(it->key());
    }
    if (!it->status().ok()) return util::unexpected("block store is corrupt (" + it->status().ToString() + ")");
    batch.Put(k_smt_stored, smt_format_leaves);
    rocksdb::WriteOptions w;
    w.sync = true;
    if (auto st = db.Write(w, &batch); !st.ok())
        return util::unexpected("cannot migrate the stored state tree: " + st.ToString());
    return {};
}

/// The stored tree, or nullopt when the store predates stored trees.
util::Result<std::optional<SparseMerkleTree>, std::string> read_tree(rocksdb::DB& db) {
    std::string marker;
    const rocksdb::Status m = db.Get(rocksdb::ReadOptions(), k_smt_stored, &marker);
    if (m.IsNotFound()) return std::optional<SparseMerkleTree>();
    if (!m.ok()) return util::unexpected("cannot read block store: " + m.ToString());
    if (marker == smt_format_all_nodes) {
        if (auto migrated = migrate_tree_to_leaves(db); !migrated) return util::unexpected(migrated.error());
    } else if (marker != smt_format_leaves) {
        return util::unexpected("block store has state tree format \"" + marker + "\"; this build reads \"" +
                                smt_format_leaves + "\" and migrates \"" + smt_format_all_nodes +
                                "\" (is the store from a newer version?)");
    }
    SparseMerkleTree::Loader loader;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(p_smt); it->Valid() && it->key().starts_with(p_smt); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_smt.size());
        if (!loader.add(util::as_bytes(k), util::as_bytes(it->value().ToStringView())))
            return util::unexpected(std::string("block store is corrupt (state tree leaf)"));
    }
    if (!it->status().ok()) return util::unexpected("block store is corrupt (" + it->status().ToString() + ")");
    auto tree = loader.finish();
    if (!tree) return util::unexpected(std::string("block store is corrupt (state tree)"));
    return std::optional<SparseMerkleTree>(std::move(*tree));
}

util::Result<State, std::string> read_state(rocksdb::DB& db) {
    const auto corrupt = [](const std::string& what) {
        return util::unexpected("block store is corrupt (" + what + ")");
    };
    std::string meta_bytes, pending_bytes, valset_bytes, epoch_bytes;
    if (!db.Get(rocksdb::ReadOptions(), k_state_meta, &meta_bytes).ok() ||
        !db.Get(rocksdb::ReadOptions(), k_state_pending, &pending_bytes).ok() ||
        !db.Get(rocksdb::ReadOptions(), k_state_valset, &valset_bytes).ok() ||
        !db.Get(rocksdb::ReadOptions(), k_state_epoch, &epoch_bytes).ok())
        return corrupt("no state (a store from before the incentive protocol: start a new chain)");
    codec::Reader meta(util::as_bytes(meta_bytes));
    auto chain_id = meta.u64();
    auto params = chain_id ? Params::decode(meta) : codec::Result<Params>(util::unexpected(chain_id.error()));
    if (!params) return corrupt("state meta");

    // Keys come sorted, so the accounts' trie is built in O(n) without hashing.
    std::vector<std::pair<AccountTrie::K, Account>> accounts;
    State::Parts parts;
    auto& nodes = parts.nodes;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(p_account); it->Valid() && it->key().starts_with(p_account); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_account.size());
        auto account = codec::decode<Account>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 20 || !account) return corrupt("account entry");
        AccountTrie::K a;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(a.data()));
        accounts.emplace_back(a, *account);
    }
    for (it->Seek(p_node); it->Valid() && it->key().starts_with(p_node); it->Next()) {
        auto entry = codec::decode<NodeEntry>(util::as_bytes(it->value().ToStringView()));
        if (!entry || it->key().ToStringView().substr(p_node.size()) !=
                          std::string_view(util::as_chars(util::ByteView(entry->record.noise_key))))
            return corrupt("node entry");
        const auto key = entry->record.noise_key;
        nodes[key] = std::move(*entry);
    }
    for (it->Seek(p_bond); it->Valid() && it->key().starts_with(p_bond); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_bond.size());
        auto bond = codec::decode<ValidatorBond>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 20 || !bond || (bond->stake == 0 && !bond->tombstoned)) return corrupt("validator bond entry");
        crypto::Address a;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(a.bytes.data()));
        parts.bonds[a] = std::move(*bond);
    }
    for (it->Seek(p_reward); it->Valid() && it->key().starts_with(p_reward); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_reward.size());
        auto rec = codec::decode<RewardRecord>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 20 || !rec) return corrupt("reward entry");
        crypto::Address a;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(a.bytes.data()));
        parts.rewards[a] = *rec;
    }
    for (it->Seek(p_grant); it->Valid() && it->key().starts_with(p_grant); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_grant.size());
        auto g = codec::decode<Grant>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 32 || !g) return corrupt("grant entry");
        crypto::Hash256 id;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(id.data()));
        parts.grants[id] = std::move(*g);
    }
    for (it->Seek(p_usage); it->Valid() && it->key().starts_with(p_usage); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_usage.size());
        auto u = codec::decode<UsageRecord>(util::as_bytes(it->value().ToStringView()));
        if (!u) return corrupt("usage entry");
        const UsageKey key = usage_record_key(u->epoch, u->exit, u->payer, u->entry);
        if (k != std::string_view(util::as_chars(util::ByteView(key)))) return corrupt("usage entry key");
        parts.usage.emplace_back(key, *u);
    }
    if (!it->status().ok()) return corrupt(it->status().ToString());
    auto epoch = codec::decode<EpochInfo>(util::as_bytes(epoch_bytes));
    if (!epoch) return corrupt("epoch entry");
    parts.epoch = std::move(*epoch);
    codec::Reader pr(util::as_bytes(pending_bytes));
    auto pending = decode_pending(pr);
    if (!pending || pr.remaining() != 0) return corrupt("pending entry");
    parts.pending = std::move(*pending);
    auto valset = codec::decode<ValidatorSet>(util::as_bytes(valset_bytes));
    if (!valset) return corrupt("validator set entry");
    parts.validator_set = std::move(*valset);
    auto tree = read_tree(db);
    if (!tree) return util::unexpected(tree.error());
    if (!*tree) {
        // A store from before stored trees: hash every entry once, then store the tree.
        std::map<crypto::Address, Account> by_address;
        for (const auto& [a, acc] : accounts) by_address.emplace(crypto::Address{a}, acc);
        State s = State::restore(*chain_id, *params, std::move(by_address), std::move(parts));
        rocksdb::WriteBatch batch;
        write_tree_changes(batch, SparseMerkleTree{}, s.tree());
        batch.Put(k_smt_stored, smt_format_leaves);
        rocksdb::WriteOptions w;
        w.sync = true;
        if (auto st = db.Write(w, &batch); !st.ok())
            return util::unexpected("cannot store the state tree: " + st.ToString());
        return s;
    }
    auto state =
        State::restore(*chain_id, *params, AccountTrie::from_sorted(accounts), std::move(parts), std::move(**tree));
    if (!state) return corrupt("state tree does not hold every entry");
    return std::move(*state);
}

}  // namespace

BlockStore::BlockStore(std::unique_ptr<rocksdb::DB> db, Header head, State state)
    : m_db(std::move(db)), m_head(std::move(head)), m_state(std::move(state)) {}

BlockStore::~BlockStore() = default;

util::Result<std::unique_ptr<BlockStore>, std::string> BlockStore::open(const std::filesystem::path& dir,
                                                                        const Genesis& genesis) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.paranoid_checks = true;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status st = rocksdb::DB::Open(options, dir.string(), &raw);
    if (!st.ok()) return util::unexpected("cannot open block store " + dir.string() + ": " + st.ToString());
    std::unique_ptr<rocksdb::DB> db(raw);

    // The genesis block's id needs its state root, hashed over every genesis
    // balance; a store that already checked this genesis remembers a digest
    // of the genesis itself, so reopening does not hash every balance again.
    const std::string input_digest = genesis_input_digest(genesis);
    std::string stored_genesis, stored_digest;
    const rocksdb::Status g = db->Get(rocksdb::ReadOptions(), k_genesis, &stored_genesis);
    if (!g.ok() && !g.IsNotFound()) return util::unexpected("cannot read block store: " + g.ToString());
    const rocksdb::Status d = db->Get(rocksdb::ReadOptions(), k_genesis_input, &stored_digest);
    if (!d.ok() && !d.IsNotFound()) return util::unexpected("cannot read block store: " + d.ToString());
    if (g.IsNotFound() || !d.ok() || stored_digest != input_digest) {
        auto genesis_state = genesis.state();
        if (!genesis_state) return util::unexpected("genesis: " + genesis_state.error());
        const Header genesis_header = genesis.header(*genesis_state);
        const std::string genesis_id(util::as_chars(genesis_header.hash()));
        rocksdb::WriteBatch batch;
        if (g.IsNotFound()) {
            batch.Put(k_genesis, genesis_id);
            batch.Put(k_genesis_input, input_digest);
            batch.Put(k_head, be64(0));
            batch.Put(block_key(0), to_string(codec::encode(Block{genesis_header, {}, {}})));
            batch.Put(key("hash/", genesis_header.hash()), be64(0));
            batch.Put(k_state_meta, encode_meta(*genesis_state));
            batch.Put(k_state_pending, encode_pending({}));
            batch.Put(k_state_epoch, encoded<EpochInfo>(genesis_state->epoch_info()));
            write_entry_changes(batch, State(genesis_state->chain_id(), genesis_state->params()), *genesis_state);
            write_tree_changes(batch, SparseMerkleTree{}, genesis_state->tree());
            batch.Put(k_smt_stored, smt_format_leaves);
            rocksdb::WriteOptions w;
            w.sync = true;
            if (auto s = db->Write(w, &batch); !s.ok())
                return util::unexpected("cannot write genesis: " + s.ToString());
            return std::unique_ptr<BlockStore>(
                new BlockStore(std::move(db), genesis_header, std::move(*genesis_state)));
        }
        if (stored_genesis != genesis_id)
            return util::unexpected("block store belongs to another genesis: " + dir.string());
        batch.Put(k_genesis_input, input_digest);
        rocksdb::WriteOptions w;
        w.sync = true;
        if (auto s = db->Write(w, &batch); !s.ok())
            return util::unexpected("block store write failed: " + s.ToString());
    }

    std::string head_bytes, block_bytes;
    if (!db->Get(rocksdb::ReadOptions(), k_head, &head_bytes).ok() || head_bytes.size() != 8)
        return util::unexpected(std::string("block store is corrupt (no head)"));
    const std::uint64_t height = read_be64(head_bytes);
    if (!db->Get(rocksdb::ReadOptions(), block_key(height), &block_bytes).ok())
        return util::unexpected(std::string("block store is corrupt (head block missing)"));
    auto block = codec::decode<Block>(util::as_bytes(block_bytes));
    if (!block) return util::unexpected(std::string("block store is corrupt (undecodable head)"));
    auto state = read_state(*db);
    if (!state) return util::unexpected(state.error());
    if (state->state_root() != block->header.state_root)
        return util::unexpected(std::string("block store is corrupt (state does not match the head block)"));
    return std::unique_ptr<BlockStore>(new BlockStore(std::move(db), block->header, std::move(*state)));
}

util::Result<void, std::string> BlockStore::commit(const Block& block, const State& next) {
    rocksdb::WriteBatch batch;
    const std::uint64_t h = block.header.height;
    batch.Put(block_key(h), to_string(codec::encode(block)));
    batch.Put(key("hash/", block.header.hash()), be64(h));
    for (std::size_t i = 0; i < block.transactions.size(); ++i) {
        std::string loc = be64(h);
        codec::append_be(loc, static_cast<std::uint32_t>(i));
        batch.Put(key("tx/", block.transactions[i].hash()), loc);
    }
    write_state_changes(batch, m_state, next);
    write_fee_history(batch, m_state, next, h);
    batch.Put(k_head, be64(h));
    rocksdb::WriteOptions w;
    w.sync = true;  // durable before anyone is told the block is committed
    if (auto s = m_db->Write(w, &batch); !s.ok()) return util::unexpected("block store write failed: " + s.ToString());
    m_head = block.header;
    m_state = next;
    return {};
}

std::optional<Block> BlockStore::block_at(std::uint64_t height) const {
    std::string bytes;
    if (!m_db->Get(rocksdb::ReadOptions(), block_key(height), &bytes).ok()) return std::nullopt;
    auto b = codec::decode<Block>(util::as_bytes(bytes));
    if (!b) return std::nullopt;
    return std::move(*b);
}

std::optional<ValidatorSet> BlockStore::validator_set(std::uint64_t epoch) const {
    if (epoch == m_state.validator_set().epoch) return m_state.validator_set();
    std::string bytes;
    if (!m_db->Get(rocksdb::ReadOptions(), p_valset + be64(epoch), &bytes).ok()) return std::nullopt;
    auto set = codec::decode<ValidatorSet>(util::as_bytes(bytes));
    if (!set) return std::nullopt;
    return std::move(*set);
}

std::optional<EpochSummary> BlockStore::epoch_summary(std::uint64_t epoch) const {
    std::string bytes;
    if (!m_db->Get(rocksdb::ReadOptions(), p_epoch_history + be64(epoch), &bytes).ok()) return std::nullopt;
    auto summary = codec::decode<EpochSummary>(util::as_bytes(bytes));
    if (!summary) return std::nullopt;
    return *summary;
}

std::vector<std::pair<crypto::Address, RewardRecord>> BlockStore::rewards_of_epoch(std::uint64_t epoch,
                                                                                   std::size_t limit) const {
    std::vector<std::pair<crypto::Address, RewardRecord>> out;
    const std::string prefix = p_reward_history + be64(epoch);
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
        const auto k = it->key().ToStringView().substr(prefix.size());
        auto rec = codec::decode<RewardRecord>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 20 || !rec) continue;
        crypto::Address a;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(a.bytes.data()));
        out.emplace_back(a, *rec);
    }
    return out;
}

std::optional<RewardRecord> BlockStore::reward_at(std::uint64_t epoch, const crypto::Address& a) const {
    std::string bytes;
    const std::string k = p_reward_history + be64(epoch) + std::string(util::as_chars(util::ByteView(a.bytes)));
    if (!m_db->Get(rocksdb::ReadOptions(), k, &bytes).ok()) return std::nullopt;
    auto rec = codec::decode<RewardRecord>(util::as_bytes(bytes));
    if (!rec) return std::nullopt;
    return *rec;
}

std::optional<SmtProof> BlockStore::validator_set_proof(std::uint64_t epoch) const {
    std::string bytes;
    if (!m_db->Get(rocksdb::ReadOptions(), p_valproof + be64(epoch), &bytes).ok()) return std::nullopt;
    return decode_proof(bytes);
}

std::uint64_t BlockStore::usage_fees(std::uint64_t epoch, const crypto::Address& a) const {
    std::uint64_t total = 0;
    const std::string prefix = p_fee_history + be64(epoch) + std::string(util::as_chars(util::ByteView(a.bytes)));
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
        if (it->value().size() == 8) total += read_be64(it->value().ToStringView());
    return total;
}

std::vector<ScoreHistoryEntry> BlockStore::score_history(const crypto::X25519Public& node, std::size_t limit) const {
    std::vector<ScoreHistoryEntry> out;
    const std::string prefix = p_score_history + std::string(util::as_chars(key_bytes(node)));
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions()));
    // Newest first: from past the last epoch backwards.
    for (it->SeekForPrev(prefix + std::string(8, '\xff'));
         it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Prev())
        if (auto e = decode_score(it->value().ToStringView())) out.push_back(*e);
    return out;
}

std::optional<std::uint64_t> BlockStore::height_of(const crypto::Hash256& block_hash) const {
    std::string v;
    if (!m_db->Get(rocksdb::ReadOptions(), key("hash/", block_hash), &v).ok() || v.size() != 8) return std::nullopt;
    return read_be64(v);
}

std::optional<TxLocation> BlockStore::find_transaction(const crypto::Hash256& tx_id) const {
    std::string v;
    if (!m_db->Get(rocksdb::ReadOptions(), key("tx/", tx_id), &v).ok() || v.size() != 12) return std::nullopt;
    return TxLocation{read_be64(v), codec::load_be<std::uint32_t>(v.data() + 8)};
}

}  // namespace conet::ledger
