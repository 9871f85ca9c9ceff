import { Choker } from '@mainline/choker';
import { ManualClock } from '@mainline/rate';

// A peer as the choker sees it (in a client: the connection, implementing ChokablePeer).
class Peer {
  constructor(name, rate, clock) {
    Object.assign(this, { name, rate, clock, choked: true, interested: true });
  }
  isInterested() { return this.interested; }
  isChoked() { return this.choked; }
  choke() { this.choked = true; }
  unchoke() { this.choked = false; }
  downloadRate() { return this.rate; } // from them: ranks peers while we download
  uploadRate() { return 0; } // to them: ranks peers once we seed
  lastBlockAt() { return this.clock.now(); } // a block just now: not snubbed
}

const clock = new ManualClock(); // the system clock by default; a ManualClock makes time explicit
const choker = new Choker({ clock, maxUploads: 3, minUploads: 2, isSeeding: () => false, random: () => 0 });
const peers = [['a', 50_000], ['b', 10_000], ['c', 90_000], ['d', 20_000], ['e', 70_000]].map(([n, r]) => new Peer(n, r, clock));
for (const p of peers) choker.peerConnected(p); // each connect rechokes
choker.start(); // rechoke every 10 s, rotate the optimistic unchoke every 30 s

const unchoked = () => peers.filter((p) => !p.choked).map((p) => p.name).join(' ');
console.log('unchoked:', unchoked(), '| by rate:', choker.preferred.map((p) => p.name).join(' '));

peers[1].rate = 200_000; // b becomes the fastest uploader to us
clock.advance(10_000); // the next rechoke
console.log('unchoked:', unchoked(), '| by rate:', choker.preferred.map((p) => p.name).join(' '));

peers[2].interested = false; // c lost interest: interestChanged rechokes at once
choker.interestChanged(peers[2]);
console.log('unchoked:', unchoked(), '| by rate:', choker.preferred.map((p) => p.name).join(' '));
choker.stop();
