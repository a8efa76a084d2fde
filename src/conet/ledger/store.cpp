#include "conet/ledger/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

namespace conet::ledger {

namespace {

std::string be64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (56 - 8 * i));
    return s;
}

std::uint64_t read_be64(std::string_view s) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[i]);
    return v;
}

std::string key(std::string_view space, util::ByteView id) {
    return std::string(space) + std::string(util::as_chars(id));
}
std::string block_key(std::uint64_t height) {
    return "block/" + be64(height);
}

const std::string k_genesis = "meta/genesis";
const std::string k_head = "meta/head";

std::string to_string(const util::Bytes& b) {
    return std::string(util::as_chars(b));
}

// The state is stored as entries, so a block writes only what it changed:
//   state/meta              u64 chain_id | params (4 × u64)        written with genesis
//   state/acct/<address>    u64 balance | u64 nonce | u64 prepaid
//   state/node/<noise key>  NodeRecord | u64 stake
//   state/pending           u32 count | (address | u64 amount | u64 release_height)*
const std::string k_state_meta = "state/meta";
const std::string k_state_pending = "state/pending";
const std::string p_account = "state/acct/";
const std::string p_node = "state/node/";

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

util::ByteView key_bytes(const crypto::Address& a) {
    return a.bytes;
}
util::ByteView key_bytes(const crypto::X25519Public& k) {
    return k;
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

void write_state_changes(rocksdb::WriteBatch& batch, const State& before, const State& after) {
    write_changed(batch, p_account, before.accounts(), after.accounts(), encoded<Account>);
    write_changed(batch, p_node, before.nodes(), after.nodes(), encoded<NodeEntry>);
    if (before.pending() != after.pending()) batch.Put(k_state_pending, encode_pending(after.pending()));
}

util::Result<State, std::string> read_state(rocksdb::DB& db) {
    const auto corrupt = [](const std::string& what) {
        return util::unexpected("block store is corrupt (" + what + ")");
    };
    std::string meta_bytes, pending_bytes;
    if (!db.Get(rocksdb::ReadOptions(), k_state_meta, &meta_bytes).ok() ||
        !db.Get(rocksdb::ReadOptions(), k_state_pending, &pending_bytes).ok())
        return corrupt("no state");
    codec::Reader meta(util::as_bytes(meta_bytes));
    auto chain_id = meta.u64();
    auto params = chain_id ? Params::decode(meta) : codec::Result<Params>(util::unexpected(chain_id.error()));
    if (!params) return corrupt("state meta");

    std::map<crypto::Address, Account> accounts;
    std::map<crypto::X25519Public, NodeEntry> nodes;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(p_account); it->Valid() && it->key().starts_with(p_account); it->Next()) {
        const auto k = it->key().ToStringView().substr(p_account.size());
        auto account = codec::decode<Account>(util::as_bytes(it->value().ToStringView()));
        if (k.size() != 20 || !account) return corrupt("account entry");
        crypto::Address a;
        std::copy(k.begin(), k.end(), reinterpret_cast<char*>(a.bytes.data()));
        accounts[a] = *account;
    }
    for (it->Seek(p_node); it->Valid() && it->key().starts_with(p_node); it->Next()) {
        auto entry = codec::decode<NodeEntry>(util::as_bytes(it->value().ToStringView()));
        if (!entry || it->key().ToStringView().substr(p_node.size()) !=
                          std::string_view(util::as_chars(util::ByteView(entry->record.noise_key))))
            return corrupt("node entry");
        const auto key = entry->record.noise_key;
        nodes[key] = std::move(*entry);
    }
    if (!it->status().ok()) return corrupt(it->status().ToString());
    codec::Reader pr(util::as_bytes(pending_bytes));
    auto pending = decode_pending(pr);
    if (!pending || pr.remaining() != 0) return corrupt("pending entry");
    return State::restore(*chain_id, *params, std::move(accounts), std::move(nodes), std::move(*pending));
}

}  // namespace

BlockStore::BlockStore(std::unique_ptr<rocksdb::DB> db, Header head, State state)
    : m_db(std::move(db)), m_head(std::move(head)), m_state(std::move(state)), m_tree(m_state.tree()) {}

BlockStore::~BlockStore() = default;

util::Result<std::unique_ptr<BlockStore>, std::string> BlockStore::open(const std::filesystem::path& dir,
                                                                        const Genesis& genesis) {
    auto genesis_state = genesis.state();
    if (!genesis_state) return util::unexpected("genesis: " + genesis_state.error());
    const Header genesis_header = genesis.header(*genesis_state);
    const std::string genesis_id(util::as_chars(genesis_header.hash()));

    rocksdb::Options options;
    options.create_if_missing = true;
    options.paranoid_checks = true;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status st = rocksdb::DB::Open(options, dir.string(), &raw);
    if (!st.ok()) return util::unexpected("cannot open block store " + dir.string() + ": " + st.ToString());
    std::unique_ptr<rocksdb::DB> db(raw);

    std::string stored_genesis;
    const rocksdb::Status g = db->Get(rocksdb::ReadOptions(), k_genesis, &stored_genesis);
    if (g.IsNotFound()) {
        rocksdb::WriteBatch batch;
        batch.Put(k_genesis, genesis_id);
        batch.Put(k_head, be64(0));
        batch.Put(block_key(0), to_string(codec::encode(Block{genesis_header, {}, {}})));
        batch.Put(key("hash/", genesis_header.hash()), be64(0));
        batch.Put(k_state_meta, encode_meta(*genesis_state));
        batch.Put(k_state_pending, encode_pending({}));
        write_state_changes(batch, State(genesis_state->chain_id(), genesis_state->params()), *genesis_state);
        rocksdb::WriteOptions w;
        w.sync = true;
        if (auto s = db->Write(w, &batch); !s.ok()) return util::unexpected("cannot write genesis: " + s.ToString());
        return std::unique_ptr<BlockStore>(new BlockStore(std::move(db), genesis_header, std::move(*genesis_state)));
    }
    if (!g.ok()) return util::unexpected("cannot read block store: " + g.ToString());
    if (stored_genesis != genesis_id)
        return util::unexpected("block store belongs to another genesis: " + dir.string());

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
        for (int b = 3; b >= 0; --b) loc.push_back(static_cast<char>(i >> (8 * b)));
        batch.Put(key("tx/", block.transactions[i].hash()), loc);
    }
    write_state_changes(batch, m_state, next);
    batch.Put(k_head, be64(h));
    rocksdb::WriteOptions w;
    w.sync = true;  // durable before anyone is told the block is committed
    if (auto s = m_db->Write(w, &batch); !s.ok()) return util::unexpected("block store write failed: " + s.ToString());
    m_head = block.header;
    m_state = next;
    m_tree = m_state.tree();
    return {};
}

std::optional<Block> BlockStore::block_at(std::uint64_t height) const {
    std::string bytes;
    if (!m_db->Get(rocksdb::ReadOptions(), block_key(height), &bytes).ok()) return std::nullopt;
    auto b = codec::decode<Block>(util::as_bytes(bytes));
    if (!b) return std::nullopt;
    return std::move(*b);
}

std::optional<std::uint64_t> BlockStore::height_of(const crypto::Hash256& block_hash) const {
    std::string v;
    if (!m_db->Get(rocksdb::ReadOptions(), key("hash/", block_hash), &v).ok() || v.size() != 8) return std::nullopt;
    return read_be64(v);
}

std::optional<TxLocation> BlockStore::find_transaction(const crypto::Hash256& tx_id) const {
    std::string v;
    if (!m_db->Get(rocksdb::ReadOptions(), key("tx/", tx_id), &v).ok() || v.size() != 12) return std::nullopt;
    std::uint32_t index = 0;
    for (int i = 8; i < 12; ++i) index = (index << 8) | static_cast<std::uint8_t>(v[i]);
    return TxLocation{read_be64(v), index};
}

}  // namespace conet::ledger
