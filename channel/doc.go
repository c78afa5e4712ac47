// Package channel holds the cryptography and the pure rules of Speed payment channels:
// secp256k1 keys, TRON-style addresses, the fixed-layout signed messages (channel open,
// voucher, close) and the voucher validator a provider runs before it trusts a payment.
//
// Every signed message has one fixed binary layout, prefixed by a 16-byte domain tag, and is
// signed as SHA-256 of that layout, so a signature can never be replayed as another message
// type, on another ledger or on another channel. Signatures are 64 bytes r||s and must be in
// canonical low-S form: the verifier rejects the high-S twin that ECDSA would otherwise accept.
//
// Amounts are checked uint64 base units (1 BTT = 1,000,000 units); the whole supply,
// 990,000,000,000 BTT = 9.9e17 units, fits with room to spare, and every addition is checked.
package channel
