// The WebRTC client of `callctl probe --client chromium` and of the test rigs: StanzaJS (XMPP
// over WebSocket, Jingle with the browser's own RTCPeerConnection), fake audio from the
// browser, host candidates only. The driver (driver.mjs) bundles this file with esbuild and
// calls window.rig.* through the page.
//
// Workarounds for StanzaJS 12.22.1's own defects live here, never in Asterisk (see
// docs/jingle-rig.md, "Real browsers"): each is marked WORKAROUND.
import * as XMPP from 'stanza';
import { ICESession } from 'stanza/jingle';
import { attribute, childAttribute } from 'stanza/jxt';

// XEP-0353 Jingle Message Initiation: StanzaJS 12 knows only an older namespace.
const NS_JMI = 'urn:xmpp:jingle-message:0';
const NS_RTP = 'urn:xmpp:jingle:apps:rtp:1';
const JMI_ANSWERS = ['proceed', 'reject', 'retract'];

const events = []; // what happened, in order, with performance.now() times (ms)
const note = (what, detail) => events.push({ t: performance.now(), what, detail });

let client = null;
let session = null; // the one call of this page
let incoming = []; // sessions offered to us, not yet taken
let options = { renomination: false, timing: false, iceServers: [] };
let stream = null;
// First time of, this call: initiated (session-initiate acknowledged), ringing, accept, ice,
// dtls, connected, firstAudio (timing), audioOut and audioIn (watchAudio: getStats counters).
let marks = {};
let jmiAnswers = []; // {verb, id, from} of XEP-0353 answers to our proposals
let terminating = null; // the session-terminate IQ in flight (hangup waits for its answer)

// Each call starts with a clean record (the page serves one call after another).
function fresh() {
  events.length = 0;
  marks = {};
}

// An error or an IQ error response, readable in one line.
function describe(extra) {
  if (!extra) return '';
  if (extra.message) return String(extra.message);
  try {
    return JSON.stringify(extra.error || extra).slice(0, 300);
  } catch {
    return String(extra);
  }
}

function mark(name) {
  if (marks[name] === undefined) {
    marks[name] = performance.now();
    note(name, null);
  }
}

// WORKAROUND: StanzaJS writes candidates without `generation` and `id` (XEP-0176 says both
// are required); fill them in on every outgoing Jingle IQ.
function completeCandidates(jingle) {
  for (const content of (jingle && jingle.contents) || []) {
    const transport = content.transport;
    for (const cand of (transport && transport.candidates) || []) {
      if (cand.generation === undefined) cand.generation = 0;
      if (!cand.id) cand.id = Math.random().toString(36).slice(2, 12);
    }
  }
}

// WORKAROUND: StanzaJS's transport-info handler reads the remote description's ICE
// parameters without checking them; when the offer it turned into SDP had none (Asterisk's
// empty <transport/>), it throws `TypeError ... 'usernameFragment'` before answering the IQ,
// and its per-session queue then waits forever (ring(), accept() never run). Answer the IQ
// with an error instead and keep the session usable, so the call fails where it really does.
const onTransportInfo = ICESession.prototype.onTransportInfo;
ICESession.prototype.onTransportInfo = async function (changes, cb) {
  let answered = false;
  const once = (err) => {
    if (!answered) {
      answered = true;
      cb(err);
    }
  };
  try {
    await onTransportInfo.call(this, changes, once);
  } catch (err) {
    note('stanza-error', `transport-info: ${err}`);
    once({ condition: 'general-error' });
  }
};

// a=ice-options:renomination in an SDP (the Conversations profile of issue 12, item 6).
function withRenomination(sdp) {
  if (/a=ice-options:[^\r\n]*renomination/.test(sdp)) return sdp;
  if (/a=ice-options:/.test(sdp)) {
    return sdp.replace(/a=ice-options:([^\r\n]*)/g, 'a=ice-options:$1 renomination');
  }
  return sdp.replace(/(\r\nm=)/, '\r\na=ice-options:renomination$1');
}

// The peer connection StanzaJS creates, watched (states, first audio) and, for the
// renomination profile, with both descriptions munged.
function createPeerConnection(_session, opts) {
  const config = { ...opts, iceServers: options.iceServers, iceTransportPolicy: 'all' };
  // `timing` (bench/webrtc_setup.py, Chromium): encoded streams see each audio frame after
  // SRTP decryption, so the first one marks `firstAudio` exactly; with them on, every sender
  // and receiver must be piped through (Chromium stops media otherwise).
  if (options.timing) config.encodedInsertableStreams = true;
  const pc = new RTCPeerConnection(config);
  if (options.timing) {
    const addTrack = pc.addTrack.bind(pc);
    pc.addTrack = (...args) => {
      const sender = addTrack(...args);
      const { readable, writable } = sender.createEncodedStreams();
      readable.pipeTo(writable);
      return sender;
    };
    pc.addEventListener('track', (e) => {
      const { readable, writable } = e.receiver.createEncodedStreams();
      const first = new TransformStream({
        transform(frame, controller) {
          mark('firstAudio');
          controller.enqueue(frame);
        },
      });
      readable.pipeThrough(first).pipeTo(writable);
    });
  }
  pc.addEventListener('iceconnectionstatechange', () => {
    note('ice', pc.iceConnectionState);
    if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') mark('ice');
  });
  pc.addEventListener('connectionstatechange', () => {
    note('connection', pc.connectionState);
    if (pc.connectionState === 'connected') mark('connected');
  });
  pc.addEventListener('icecandidateerror', (e) => note('icecandidateerror', `${e.errorCode} ${e.errorText}`));
  if (options.renomination) {
    const createOffer = pc.createOffer.bind(pc);
    const createAnswer = pc.createAnswer.bind(pc);
    const setRemote = pc.setRemoteDescription.bind(pc);
    const munge = (d) => ({ type: d.type, sdp: withRenomination(d.sdp) });
    pc.createOffer = async (o) => munge(await createOffer(o));
    pc.createAnswer = async (o) => munge(await createAnswer(o));
    pc.setRemoteDescription = async (d) => setRemote(d && d.sdp ? munge(d) : d);
  }
  return pc;
}

function watch(s) {
  session = s;
  s.pc.addEventListener('track', () => note('track', null));
  // The DTLS transport exists once the transceivers have one (after the descriptions).
  const poll = setInterval(async () => {
    if (!session || session !== s || s.pc.signalingState === 'closed') return clearInterval(poll);
    for (const sender of s.pc.getSenders()) {
      const dtls = sender.transport;
      if (dtls && !dtls.__watched) {
        dtls.__watched = true;
        note('dtls', dtls.state);
        dtls.addEventListener('statechange', () => {
          note('dtls', dtls.state);
          if (dtls.state === 'connected') mark('dtls');
        });
        dtls.addEventListener('error', (e) => note('dtls-error', String(e.message || e)));
        if (dtls.state === 'connected') mark('dtls');
      }
    }
  }, 2);
}

async function audio() {
  if (!stream) stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  return stream;
}

window.rig = {
  // iceServers: RTCIceServer[] (the NAT rig's TURN); none by default: host candidates only.
  async login({ jid, password, url, renomination, timing, iceServers }) {
    options = { renomination: !!renomination, timing: !!timing, iceServers: iceServers || [] };
    client = XMPP.createClient({
      jid,
      password,
      resource: jid.split('/')[1],
      transports: { websocket: url, bosh: false },
      jingle: { iceServers: [], createPeerConnection, hasRTCPeerConnection: true },
    });
    const sendIQ = client.sendIQ.bind(client);
    client.sendIQ = (iq) => {
      if (iq.jingle) completeCandidates(iq.jingle);
      const sent = sendIQ(iq);
      if (iq.jingle && iq.jingle.action === 'session-terminate') terminating = sent;
      if (iq.jingle && iq.jingle.action === 'session-initiate') {
        sent.then(
          () => mark('initiated'),
          (err) => note('initiate-error', describe(err)),
        );
      }
      return sent;
    };
    client.stanzas.define({
      element: 'propose',
      namespace: NS_JMI,
      path: 'message.jmiPropose',
      fields: { id: attribute('id'), media: childAttribute(NS_RTP, 'description', 'media') },
    });
    for (const verb of JMI_ANSWERS) {
      client.stanzas.define({
        element: verb,
        namespace: NS_JMI,
        path: `message.jmi_${verb}`,
        fields: { id: attribute('id') },
      });
    }
    client.on('message', (msg) => {
      for (const verb of JMI_ANSWERS) {
        const answer = msg[`jmi_${verb}`];
        if (answer) jmiAnswers.push({ verb, id: answer.id, from: msg.from });
      }
    });
    client.on('*', (name, data) => {
      if (name.startsWith('jingle:') || name === 'stream:error' || name === 'auth:failed') {
        note(name, data && data.sid ? data.sid : null);
      }
    });
    client.on('jingle:incoming', (s) => incoming.push(s));
    client.on('jingle:accepted', () => mark('accept'));
    client.on('jingle:ringing', () => mark('ringing'));
    // The session-accept's arrival (before StanzaJS applies it: ICE may connect meanwhile).
    client.on('iq:set:jingle', (iq) => {
      if (iq.jingle && iq.jingle.action === 'session-accept') mark('accept');
    });
    client.on('jingle:terminated', (s, reason) =>
      note('terminated', reason ? reason.condition || JSON.stringify(reason) : ''));
    client.jingle.on('log', (level, msg, extra) => {
      if (level === 'error' || level === 'warn') note(`stanza-${level}`, `${msg} ${describe(extra)}`);
    });
    const started = new Promise((resolve, reject) => {
      client.once('session:started', resolve);
      client.once('auth:failed', () => reject(new Error('auth failed')));
      client.once('disconnected', () => reject(new Error('disconnected before the session started')));
    });
    client.connect();
    await started;
    await client.sendPresence();
    await audio();
    return client.jid;
  },

  // The callee's disco#info features; null when it does not answer.
  async features(jid) {
    try {
      const info = await client.getDiscoInfo(jid);
      return info.features || [];
    } catch {
      return null;
    }
  },

  // XEP-0353: <propose/> audio to `peer`; the first answer to it (proceed names the full JID
  // that takes the session-initiate; the proposal's id is the session's sid), or null.
  async propose(peer, timeoutMs) {
    const id = Math.random().toString(36).slice(2, 14);
    const bare = (jid) => String(jid).split('/')[0].toLowerCase();
    jmiAnswers = [];
    client.sendMessage({ to: peer, type: 'chat', jmiPropose: { id, media: 'audio' } });
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      const answer = jmiAnswers.find((a) => a.id === id && bare(a.from) === bare(peer));
      if (answer) return { ...answer, sid: id };
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  },

  // performance.now(): the clock of every time in report().
  clock() {
    return performance.now();
  },

  async call(peer, sid) {
    fresh();
    const s = client.jingle.createMediaSession(peer, sid || undefined);
    watch(s);
    const media = await audio();
    for (const track of media.getTracks()) s.addTrack(track, media);
    await s.start();
    return s.sid;
  },

  async nextIncoming(timeoutMs) {
    fresh();
    const end = performance.now() + timeoutMs;
    while (!incoming.length && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    const s = incoming.shift();
    if (!s) throw new Error(`no incoming call within ${timeoutMs} ms`);
    watch(s);
    return { sid: s.sid, peer: s.peerID };
  },

  async ring() {
    await session.ring();
  },

  async accept() {
    const media = await audio();
    for (const track of media.getTracks()) session.addTrack(track, media);
    await session.accept();
    mark('accept');
  },

  // Mark audioOut / audioIn at the first audio RTP packet sent / received (getStats).
  watchAudio() {
    const s = session;
    const poll = setInterval(async () => {
      if (session !== s || s.pc.signalingState === 'closed') return clearInterval(poll);
      const report = await s.pc.getStats();
      // Out before in: both may show up in one poll, and audio cannot come back first.
      report.forEach((r) => {
        if (r.type === 'outbound-rtp' && r.kind === 'audio' && r.packetsSent > 0) mark('audioOut');
      });
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio' && r.packetsReceived > 0) mark('audioIn');
      });
      if (marks.audioOut !== undefined && marks.audioIn !== undefined) clearInterval(poll);
    }, 10);
  },

  // End the call; resolves once the session-terminate is answered (or refused), so that the
  // browser is never closed with the terminate still unsent.
  async hangup(reason) {
    terminating = null;
    if (session && session.state !== 'ended') session.end(reason || 'success');
    if (terminating) {
      await terminating.then(
        () => note('terminate-acked', null),
        (err) => note('terminate-error', describe(err)),
      );
    }
  },

  // States and RTP counts (RTCStatsReport: audio inbound-rtp/outbound-rtp, transport).
  async stats() {
    const out = {
      state: session ? session.state : 'none',
      connection: session ? session.pc.connectionState : 'none',
      ice: session ? session.pc.iceConnectionState : 'none',
      dtls: 'none',
      packetsReceived: 0,
      packetsSent: 0,
      bytesReceived: 0,
      bytesSent: 0,
      codec: '',
    };
    if (!session || session.pc.signalingState === 'closed') return out;
    const report = await session.pc.getStats();
    const codecs = {};
    report.forEach((r) => {
      if (r.type === 'codec') codecs[r.id] = r.mimeType;
    });
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.packetsReceived += r.packetsReceived || 0;
        out.bytesReceived += r.bytesReceived || 0;
        if (r.codecId) out.codec = codecs[r.codecId] || out.codec;
      }
      if (r.type === 'outbound-rtp' && r.kind === 'audio') {
        out.packetsSent += r.packetsSent || 0;
        out.bytesSent += r.bytesSent || 0;
      }
      if (r.type === 'transport' && r.dtlsState) out.dtls = r.dtlsState;
    });
    for (const sender of session.pc.getSenders()) {
      if (sender.transport) out.dtls = sender.transport.state;
    }
    return out;
  },

  localSdp() {
    return session && session.pc.localDescription ? session.pc.localDescription.sdp : '';
  },

  remoteSdp() {
    return session && session.pc.remoteDescription ? session.pc.remoteDescription.sdp : '';
  },

  report() {
    return { marks, events };
  },
};
note('loaded', navigator.userAgent);
