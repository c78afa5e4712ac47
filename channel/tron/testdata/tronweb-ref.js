// Builds and signs TRC-10 transfers with tronweb, offline, for channel/tron's tests.
// Input on stdin: {"cases": [{key, to, amount, asset, ref_block_bytes, ref_block_hash,
// expiration, timestamp, data, fee_limit, ours}]}, all bytes in hex; "ours" is the
// transaction JSON our Go code built. Output on stdout: one result per case.
// Run with NODE_PATH pointing at the node_modules that holds tronweb.
const { TronWeb, utils } = require('tronweb');

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const { cases } = JSON.parse(input);
  const out = cases.map((c) => {
    const owner = TronWeb.address.toHex(TronWeb.address.fromPrivateKey(c.key));
    const raw = {
      contract: [{
        parameter: {
          value: { amount: c.amount, asset_name: c.asset, owner_address: owner, to_address: c.to },
          type_url: 'type.googleapis.com/protocol.TransferAssetContract',
        },
        type: 'TransferAssetContract',
      }],
      ref_block_bytes: c.ref_block_bytes,
      ref_block_hash: c.ref_block_hash,
      expiration: c.expiration,
      timestamp: c.timestamp,
    };
    if (c.data) raw.data = c.data;
    if (c.fee_limit) raw.fee_limit = c.fee_limit;
    const pb = utils.transaction.txJsonToPb({ raw_data: raw, visible: false });
    const rawHex = utils.transaction.txPbToRawDataHex(pb).toLowerCase();
    const txID = utils.transaction.txPbToTxID(pb).replace(/^0x/, '').toLowerCase();
    const signed = utils.crypto.signTransaction(c.key, { txID, raw_data: raw, raw_data_hex: rawHex });
    return {
      address: TronWeb.address.fromPrivateKey(c.key),
      owner_hex: owner.toLowerCase(),
      to_base58: TronWeb.address.fromHex(c.to),
      raw_data_hex: rawHex,
      txID,
      signature: signed.signature[0].toLowerCase(),
      ours_checks: utils.transaction.txCheck(c.ours),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
