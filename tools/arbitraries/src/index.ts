export { byteMutation, applyMutations, mutatedFrom, bytesLike, splitAt, cuts, BENCODE_TOKENS, type ByteMutation } from './bytes.js';
export { bencodeValue, bencodeishBytes, type BencodeShape } from './bencode.js';
export { magnetLink, mutatedMagnetLink } from './magnet.js';
export { announceReply, scrapeReply, udpReply, type PlainBencode, type UdpReplyCase } from './tracker.js';
export { wireMessage, wireStream, wireFrame, wireChunks, frame, bitfieldOf, type WireMessage } from './wire.js';
export { metadataMessage, type MetadataMessageCase } from './metadata.js';
export { torrentSeeds, FIXTURE_TORRENTS } from './torrent.js';
export { krpcMessage } from './krpc.js';
