// Package ledger is Speed's private ledger: accounts with BTT balances, payment channels
// and a proof-of-work faucet, served over HTTP with JSON bodies.
//
// The pieces, inside out:
//   - Core applies operations to in-memory state. It is pure (no I/O, no clock, no
//     goroutines) and keeps the supply invariant: the sum of all balances and open channel
//     deposits equals channel.GenesisSupply after every operation.
//   - Ledger owns a Core and a Store. One writer goroutine takes queued operations in
//     batches, applies them, commits each batch's changes in one durable transaction (group
//     commit) and only then answers the callers. The sweeper refunds expired channels.
//   - Server (HTTP) limits requests per client address, decodes strictly, caps sizes,
//     verifies signatures in parallel and queues writes; it answers reads from committed
//     state (Reader: the writer's view, or the database on a standby) and never decides
//     anything.
//   - Client talks to a ledger over HTTP; peers use it to open, check and close channels.
//
// Every mutating request is signed by the key of the account it spends from, over a
// fixed-layout, domain-separated digest that includes the ledger id and a nonce. The nonce is
// an idempotency key: the same signed request sent twice returns the same response bytes and
// is applied once. Closing is idempotent per channel instead.
//
// Durable storage is behind the small Store interface; channel/ledger/boltstore is the
// embedded default, channel/ledger/pgstore keeps the ledger in PostgreSQL, where several
// processes share one database and the database elects the writer. Nonces carry their
// issue time, which bounds what the ledger must remember (window.go).
package ledger
