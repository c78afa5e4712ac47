// Package tron builds, signs, encodes and decodes the one kind of TRON transaction the bridge
// needs, a TRC-10 transfer (TransferAssetContract), and talks to a TRON full node's HTTP API.
//
// The protobuf of Transaction.raw_data is written and read by hand (proto.go): the messages
// are small and fixed, and the bytes must be exactly what java-tron and tronweb produce,
// because the transaction id is SHA-256 of them. A signature is 65 bytes, r || s || v with
// v = 27 + recovery id, over that id, as TRON nodes verify it.
package tron
