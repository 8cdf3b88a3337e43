/*
 * ICE negotiation harness for callctl's pjnath patches.
 *
 * Two pj_ice_sess agents talk through an in-memory packet queue (no
 * sockets) under a virtual clock, so a 60-second wait runs in milliseconds
 * and every run is the same.  The "controlled" agent plays Asterisk
 * (answering a Jingle call while the phone rings); the "controlling" agent
 * plays the Jingle client.
 *
 * Time: the program is linked with -Wl,--wrap=pj_gettickcount and
 * -Wl,--wrap=pj_gettimeofday, so pjlib's timer heap and pjnath's STUN
 * retransmissions read the virtual clock below, and with
 * -Wl,--wrap=pj_getpid so STUN transaction IDs are the same in every run.
 * The event loop jumps the clock straight to the next timer, packet or
 * scenario event.
 *
 * Usage: harness SCENARIO [--log FILE] [--log-level N]   (level 5 default)
 *        harness --list
 * Output: one line per agent (on one line), e.g.
 *   RESULT scenario=late9 side=controlled status=success error=none
 *          t_ms=9030 pair=127.0.0.1:4000/127.0.0.2:5000
 *          media_to=127.0.0.2:5000
 * status is success, failed or incomplete; t_ms is the virtual time of
 * on_ice_complete; "pair" is the nominated pair of each component
 * (comma-separated), the controlled agent's address first on both sides,
 * so both print the same text when they agree; media_to is where
 * pj_ice_sess_send_data() sent a packet after completion.
 */
#include <pjlib.h>
#include <pjlib-util.h>
#include <pjnath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THIS_FILE "harness.c"

/* NOMINATION (draft-thatcher-ice-renomination, libwebrtc 0xC001).  Defined
 * here rather than taken from pjnath so the harness builds against the
 * stock tree too. */
#define ATTR_NOMINATION     0xC001
/* NOMINATION as draft-thatcher-tsvwg-renomination numbers it; pjnath's
 * tables know this type as TURN's ICMP (a 32-bit integer attribute). */
#define ATTR_NOMINATION_0030 0x0030

/* Which NOMINATION attribute(s) a peer sends (0 means NOM_C001). */
#define NOM_C001            1
#define NOM_0030            2

#define MAX_CAND            4       /* base candidates per agent          */
#define MAX_COMP            2       /* RTP and RTCP, as chan_motif uses   */
#define MAX_PKT             1500
#define MAX_QUEUE           4096
#define MAX_INJECT          4
#define LATENCY_MS          10      /* one-way delay of the fake network */
#define NEVER               ((pj_uint64_t)-1)

/* ------------------------------------------------------------------ */
/* Virtual clock                                                       */
/* ------------------------------------------------------------------ */

/* Starts well above zero so no code mistakes it for "unset". */
static pj_uint64_t now_ms = 1000000;
/* Wall-clock base for log timestamps: 2026-01-01 00:00:00 UTC. */
#define WALL_BASE_SEC 1767225600UL

pj_status_t __wrap_pj_gettickcount(pj_time_val *tv)
{
    tv->sec = (long)(now_ms / 1000);
    tv->msec = (long)(now_ms % 1000);
    return PJ_SUCCESS;
}

pj_status_t __wrap_pj_gettimeofday(pj_time_val *tv)
{
    pj_uint64_t rel = now_ms - 1000000;
    tv->sec = (long)(WALL_BASE_SEC + rel / 1000);
    tv->msec = (long)(rel % 1000);
    return PJ_SUCCESS;
}

/* STUN transaction IDs start with the process ID: fix it, so that two runs
 * write the same log (pj_rand() is seeded in main()). */
pj_uint32_t __wrap_pj_getpid(void)
{
    return 4242;
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */
/* ------------------------------------------------------------------ */

/* A crafted Binding request the controlling side sends at a given time,
 * the way libwebrtc renominates: NOMINATION with a larger value. */
typedef struct inject
{
    pj_uint64_t at_ms;          /* ms after scenario start              */
    unsigned    from_cand;      /* controlling candidate index (0 = A)  */
    unsigned    nomination;     /* NOMINATION value (24 bits)           */
    unsigned    attrs;          /* NOM_C001 | NOM_0030; 0 = NOM_C001    */
    unsigned    nomination_0030;/* the 0x0030 attribute's value         */
} inject;

typedef struct scenario
{
    const char *name;
    const char *about;
    pj_uint64_t peer_start_ms;  /* controlling agent starts; NEVER = no */
    pj_bool_t   aggressive;     /* controlling agent's nomination style */
    pj_bool_t   nomination_only;/* rewrite USE-CANDIDATE to NOMINATION  */
    unsigned    inject_cnt;
    inject      injects[MAX_INJECT];
    pj_uint64_t end_ms;         /* hard stop                            */
    int         wait_peer_ms;   /* controlled agent's wait for the peer:
                                   -1 = pjnath's default; else needs the
                                   patched option                       */
    unsigned    comp_cnt;       /* ICE components (1 if 0)              */
    unsigned    rewrite_attr;   /* nomination_only: NOM_C001 (if 0) or
                                   NOM_0030                             */
} scenario;

static const scenario scenarios[] =
{
    { "aggressive", "both start together, aggressive nomination",
      0, PJ_TRUE, PJ_FALSE, 0, {{0}}, 30000, -1, 1 },
    { "regular", "both start together, regular nomination",
      0, PJ_FALSE, PJ_FALSE, 0, {{0}}, 30000, -1, 1 },
    { "late9", "controlling peer starts 9 s after the controlled agent",
      9000, PJ_TRUE, PJ_FALSE, 0, {{0}}, 40000, -1, 1 },
    { "late60", "controlling peer starts 60 s after the controlled agent",
      60000, PJ_TRUE, PJ_FALSE, 0, {{0}}, 90000, -1, 1 },
    { "late60-regular", "peer starts 60 s late, regular nomination",
      60000, PJ_FALSE, PJ_FALSE, 0, {{0}}, 90000, -1, 1 },
    { "giveup", "controlling peer never starts: bounded give-up",
      NEVER, PJ_TRUE, PJ_FALSE, 0, {{0}}, 200000, -1, 1 },
    { "nomination", "peer nominates with NOMINATION only (no USE-CANDIDATE)",
      0, PJ_FALSE, PJ_TRUE, 0, {{0}}, 30000, -1, 1 },
    { "renomination", "NOMINATION 1 on pair A, then 5 on lower-priority "
      "pair B, then a stale 3 on A",
      0, PJ_FALSE, PJ_TRUE, 2, {{3000, 1, 5}, {4000, 0, 3}}, 30000, -1, 1 },
    { "renom-over-uc", "USE-CANDIDATE on A (regular nomination), then "
      "NOMINATION 1 on lower-priority pair B",
      0, PJ_FALSE, PJ_FALSE, 1, {{3000, 1, 1}}, 30000, -1, 1 },
    { "renom-unchecked", "aggressive USE-CANDIDATE on A (the controlled "
      "agent never validates B), then NOMINATION 1 on B",
      0, PJ_TRUE, PJ_FALSE, 1, {{3000, 1, 1}}, 30000, -1, 1 },
    { "late130", "controlling peer starts 130 s late, after the give-up",
      130000, PJ_TRUE, PJ_FALSE, 0, {{0}}, 160000, -1, 1 },
    { "late9-nowait", "late9 with the controlled agent's wait set to 0: "
      "retrying Failed pairs alone is not enough",
      9000, PJ_TRUE, PJ_FALSE, 0, {{0}}, 40000, 0, 1 },
    { "late60-2comp", "late60 with two components (RTP and RTCP, as "
      "chan_motif has)",
      60000, PJ_TRUE, PJ_FALSE, 0, {{0}}, 90000, -1, 2 },
    { "late60-nomination", "peer starts 60 s late and nominates with "
      "NOMINATION only: both patches at once",
      60000, PJ_FALSE, PJ_TRUE, 0, {{0}}, 90000, -1, 1 },
    { "nomination-0030", "peer nominates with NOMINATION as 0x0030 only "
      "(the revived draft's number; no USE-CANDIDATE)",
      0, PJ_FALSE, PJ_TRUE, 0, {{0}}, 30000, -1, 1, NOM_0030 },
    { "renomination-0030", "renomination as 0x0030 only: 1 on pair A, "
      "then 5 on lower-priority pair B, then a stale 3 on A",
      0, PJ_FALSE, PJ_TRUE, 2,
      {{3000, 1, 0, NOM_0030, 5}, {4000, 0, 0, NOM_0030, 3}},
      30000, -1, 1, NOM_0030 },
    { "renom-both-0030", "USE-CANDIDATE on A, then B with 0xC001=2 and "
      "0x0030=5, then A with both 4: the larger of each request counts",
      0, PJ_FALSE, PJ_FALSE, 2,
      {{3000, 1, 2, NOM_C001 | NOM_0030, 5},
       {4000, 0, 4, NOM_C001 | NOM_0030, 4}}, 30000, -1, 1 },
    { "renom-both-c001", "USE-CANDIDATE on A, then B with 0xC001=5 and "
      "0x0030=2, then A with both 4: the larger of each request counts",
      0, PJ_FALSE, PJ_FALSE, 2,
      {{3000, 1, 5, NOM_C001 | NOM_0030, 2},
       {4000, 0, 4, NOM_C001 | NOM_0030, 4}}, 30000, -1, 1 },
};

/* ------------------------------------------------------------------ */
/* Agents and the packet queue                                         */
/* ------------------------------------------------------------------ */

typedef struct agent
{
    const char         *name;
    pj_ice_sess_role    role;
    pj_ice_sess        *ice;
    const char         *ufrag;
    const char         *pwd;
    unsigned            cand_cnt;
    const char         *cand_ip[MAX_CAND];
    unsigned            cand_port[MAX_CAND];
    pj_uint16_t         cand_pref[MAX_CAND];
    /* One transport per (base candidate, component):
     * index = transport_id - 1 = base * comp_cnt + comp_id - 1 */
    pj_sockaddr         addr[MAX_CAND * MAX_COMP];
    pj_bool_t           listening;          /* drops packets until then */
    pj_bool_t           done;
    pj_status_t         status;
    pj_uint64_t         done_ms;
    pj_bool_t           rewrite_uc;         /* nomination_only scenario */
    unsigned            rewrite_attr;       /* NOM_C001 or NOM_0030     */
    unsigned            next_nomination;
    pj_sockaddr         media_to;           /* where send_data went     */
    pj_bool_t           media_sent;
} agent;

typedef struct packet
{
    pj_uint64_t     at_ms;
    pj_sockaddr     src;
    pj_sockaddr     dst;
    unsigned        len;
    pj_uint8_t      data[MAX_PKT];
} packet;

static agent controlled_agent, controlling_agent;
static agent *agents[2] = { &controlled_agent, &controlling_agent };
static packet queue[MAX_QUEUE];
static unsigned q_head, q_cnt;
static pj_pool_t *pool;
static pj_timer_heap_t *timer_heap;
static pj_uint64_t t0;                      /* scenario start          */
static unsigned comp_cnt = 1;

static void die(const char *what, pj_status_t status)
{
    char errmsg[PJ_ERR_MSG_SIZE];
    pj_strerror(status, errmsg, sizeof(errmsg));
    fprintf(stderr, "harness: %s: %s\n", what, errmsg);
    exit(2);
}

static void enqueue(const pj_sockaddr *src, const pj_sockaddr *dst,
                    const void *data, pj_size_t len)
{
    packet *p;

    if (q_cnt == MAX_QUEUE || len > MAX_PKT) {
        fprintf(stderr, "harness: packet queue overflow\n");
        exit(2);
    }
    p = &queue[(q_head + q_cnt) % MAX_QUEUE];
    ++q_cnt;
    p->at_ms = now_ms + LATENCY_MS;
    pj_sockaddr_cp(&p->src, src);
    pj_sockaddr_cp(&p->dst, dst);
    p->len = (unsigned)len;
    pj_memcpy(p->data, data, len);
}

/* Which agent, transport and component own this address? */
static agent *find_owner(const pj_sockaddr *addr, unsigned *tp_id,
                         unsigned *comp_id)
{
    unsigned i, j;
    for (i = 0; i < PJ_ARRAY_SIZE(agents); ++i) {
        for (j = 0; j < agents[i]->cand_cnt * comp_cnt; ++j) {
            if (pj_sockaddr_cmp(&agents[i]->addr[j], addr) == 0) {
                *tp_id = j + 1;
                *comp_id = j % comp_cnt + 1;
                return agents[i];
            }
        }
    }
    return NULL;
}

static void deliver(packet *p)
{
    unsigned tp_id = 0, comp_id = 0;
    agent *to = find_owner(&p->dst, &tp_id, &comp_id);

    /* A peer that has not started its ICE agent yet answers nothing:
     * this is what makes the controlled agent's own checks fail. */
    if (!to || !to->listening || !to->ice)
        return;

    pj_ice_sess_on_rx_pkt(to->ice, comp_id, tp_id, p->data, p->len, &p->src,
                          pj_sockaddr_get_len(&p->src));
}

/* A NOMINATION attribute carrying a 24-bit value, as either type: 0xC001
 * is unknown to pjnath and encoded as binary (the value in the low three
 * bytes, big endian); 0x0030 goes through pjnath's integer encoder, which
 * writes the same four bytes. */
static pj_stun_attr_hdr *nomination_attr(pj_pool_t *tmp, unsigned attr,
                                         unsigned value)
{
    if (attr == NOM_0030) {
        pj_stun_uint_attr *u;
        pj_stun_uint_attr_create(tmp, ATTR_NOMINATION_0030,
                                 value & 0x00FFFFFF, &u);
        return &u->hdr;
    } else {
        pj_stun_binary_attr *b;
        pj_uint8_t bytes[4];
        bytes[0] = 0;
        bytes[1] = (pj_uint8_t)(value >> 16);
        bytes[2] = (pj_uint8_t)(value >> 8);
        bytes[3] = (pj_uint8_t)(value);
        pj_stun_binary_attr_create(tmp, ATTR_NOMINATION, bytes, 4, &b);
        return &b->hdr;
    }
}

/* NOMINATION-only peer: libwebrtc with renomination on sends NOMINATION
 * instead of USE-CANDIDATE.  Re-encode the request with the attribute
 * swapped; the STUN transaction ID stays, so pjnath still matches the
 * response to its transaction. */
static pj_bool_t rewrite_use_candidate(agent *a, const void *pkt,
                                       pj_size_t size, pj_uint8_t *out,
                                       pj_size_t *out_len)
{
    pj_pool_t *tmp = pj_pool_create(pool->factory, "rewrite", 4000, 4000,
                                    NULL);
    pj_stun_msg *msg;
    pj_str_t key;
    unsigned i;
    pj_status_t status;

    status = pj_stun_msg_decode(tmp, (const pj_uint8_t*)pkt, size,
                                PJ_STUN_IS_DATAGRAM, &msg, NULL, NULL);
    if (status != PJ_SUCCESS || msg->hdr.type != PJ_STUN_BINDING_REQUEST) {
        pj_pool_release(tmp);
        return PJ_FALSE;
    }
    for (i = 0; i < msg->attr_count; ++i) {
        if (msg->attr[i]->type == PJ_STUN_ATTR_USE_CANDIDATE)
            break;
    }
    if (i == msg->attr_count) {
        pj_pool_release(tmp);
        return PJ_FALSE;
    }

    /* same place: before MESSAGE-INTEGRITY */
    msg->attr[i] = nomination_attr(tmp, a->rewrite_attr, a->next_nomination);

    /* Short-term credential: the key is the controlled agent's password. */
    key = pj_str((char*)controlled_agent.pwd);
    status = pj_stun_msg_encode(msg, out, MAX_PKT, 0, &key, out_len);
    pj_pool_release(tmp);
    if (status != PJ_SUCCESS)
        die("re-encoding request", status);
    return PJ_TRUE;
}

static pj_status_t on_tx_pkt(pj_ice_sess *ice, unsigned comp_id,
                             unsigned transport_id, const void *pkt,
                             pj_size_t size, const pj_sockaddr_t *dst_addr,
                             unsigned dst_addr_len)
{
    agent *a = (agent*) ice->user_data;
    const pj_sockaddr *src = &a->addr[transport_id - 1];
    pj_uint8_t buf[MAX_PKT];
    pj_size_t len;

    PJ_UNUSED_ARG(comp_id);
    PJ_UNUSED_ARG(dst_addr_len);

    /* Application data (not STUN): remember where the agent sends RTP. */
    if (pj_stun_msg_check((const pj_uint8_t*)pkt, size,
                          PJ_STUN_IS_DATAGRAM) != PJ_SUCCESS)
    {
        if (comp_id != 1)
            return PJ_SUCCESS;
        pj_sockaddr_cp(&a->media_to, dst_addr);
        a->media_sent = PJ_TRUE;
        return PJ_SUCCESS;
    }

    if (a->rewrite_uc && rewrite_use_candidate(a, pkt, size, buf, &len)) {
        enqueue(src, (const pj_sockaddr*)dst_addr, buf, len);
        return PJ_SUCCESS;
    }
    enqueue(src, (const pj_sockaddr*)dst_addr, pkt, size);
    return PJ_SUCCESS;
}

static void on_ice_complete(pj_ice_sess *ice, pj_status_t status)
{
    agent *a = (agent*) ice->user_data;
    if (!a->done) {
        a->done = PJ_TRUE;
        a->status = status;
        a->done_ms = now_ms - t0;
    }
}

static void on_rx_data(pj_ice_sess *ice, unsigned comp_id,
                       unsigned transport_id, void *pkt, pj_size_t size,
                       const pj_sockaddr_t *src_addr, unsigned src_addr_len)
{
    PJ_UNUSED_ARG(ice); PJ_UNUSED_ARG(comp_id); PJ_UNUSED_ARG(transport_id);
    PJ_UNUSED_ARG(pkt); PJ_UNUSED_ARG(size); PJ_UNUSED_ARG(src_addr);
    PJ_UNUSED_ARG(src_addr_len);
}

static void create_agent(agent *a, pj_stun_config *stun_cfg)
{
    pj_ice_sess_cb cb;
    pj_str_t ufrag = pj_str((char*)a->ufrag), pwd = pj_str((char*)a->pwd);
    unsigned i;
    pj_status_t status;

    pj_bzero(&cb, sizeof(cb));
    cb.on_tx_pkt = &on_tx_pkt;
    cb.on_ice_complete = &on_ice_complete;
    cb.on_rx_data = &on_rx_data;

    status = pj_ice_sess_create(stun_cfg, a->name, a->role, comp_cnt, &cb,
                                &ufrag,
                                &pwd, NULL, &a->ice);
    if (status != PJ_SUCCESS)
        die("pj_ice_sess_create", status);
    a->ice->user_data = a;

    for (i = 0; i < a->cand_cnt * comp_cnt; ++i) {
        unsigned base = i / comp_cnt, comp_id = i % comp_cnt + 1;
        pj_str_t ip = pj_str((char*)a->cand_ip[base]);
        char fbuf[16];
        pj_str_t foundation;

        /* RTCP on the next port, as usual */
        pj_sockaddr_init(pj_AF_INET(), &a->addr[i], &ip,
                         (pj_uint16_t)(a->cand_port[base] + comp_id - 1));
        /* One foundation per base address, shared by its components */
        pj_ansi_snprintf(fbuf, sizeof(fbuf), "H%u", base + 1);
        foundation = pj_str(fbuf);
        status = pj_ice_sess_add_cand(a->ice, comp_id, i + 1,
                                      PJ_ICE_CAND_TYPE_HOST,
                                      a->cand_pref[base], &foundation,
                                      &a->addr[i], &a->addr[i], NULL,
                                      pj_sockaddr_get_len(&a->addr[i]),
                                      NULL);
        if (status != PJ_SUCCESS)
            die("pj_ice_sess_add_cand", status);
    }
}

/* Give the agent its peer's candidates (the signalling step) and start. */
static void start_agent(agent *a, agent *peer)
{
    pj_str_t ufrag = pj_str((char*)peer->ufrag);
    pj_str_t pwd = pj_str((char*)peer->pwd);
    pj_status_t status;

    PJ_LOG(3, (THIS_FILE, "t=%lu ms: %s agent starts its checks",
               (unsigned long)(now_ms - t0), a->name));
    status = pj_ice_sess_create_check_list(a->ice, &ufrag, &pwd,
                                           peer->ice->lcand_cnt,
                                           peer->ice->lcand);
    if (status != PJ_SUCCESS)
        die("pj_ice_sess_create_check_list", status);
    a->listening = PJ_TRUE;
    status = pj_ice_sess_start_check(a->ice);
    if (status != PJ_SUCCESS)
        die("pj_ice_sess_start_check", status);
}

/* Send a Binding request from the controlling agent's candidate the way a
 * renominating libwebrtc peer would: PRIORITY, ICE-CONTROLLING, NOMINATION,
 * MESSAGE-INTEGRITY and FINGERPRINT. */
static void inject_nomination(const inject *in)
{
    agent *from = &controlling_agent, *to = &controlled_agent;
    pj_pool_t *tmp = pj_pool_create(pool->factory, "inject", 4000, 4000,
                                    NULL);
    pj_stun_msg *msg;
    unsigned attrs = in->attrs ? in->attrs : NOM_C001;
    pj_uint8_t buf[MAX_PKT];
    char what[80];
    pj_size_t len;
    char uname[64];
    pj_str_t s_uname, key;
    pj_status_t status;

    pj_stun_msg_create(tmp, PJ_STUN_BINDING_REQUEST, PJ_STUN_MAGIC, NULL,
                       &msg);
    pj_ansi_snprintf(uname, sizeof(uname), "%s:%s", to->ufrag, from->ufrag);
    s_uname = pj_str(uname);
    pj_stun_msg_add_string_attr(tmp, msg, PJ_STUN_ATTR_USERNAME, &s_uname);
    pj_stun_msg_add_uint_attr(tmp, msg, PJ_STUN_ATTR_PRIORITY,
                              from->ice->lcand[in->from_cand * comp_cnt].prio);
    pj_stun_msg_add_uint64_attr(tmp, msg, PJ_STUN_ATTR_ICE_CONTROLLING,
                                &from->ice->tie_breaker);
    if (attrs & NOM_C001)
        pj_stun_msg_add_attr(msg, nomination_attr(tmp, NOM_C001,
                                                  in->nomination));
    if (attrs & NOM_0030)
        pj_stun_msg_add_attr(msg, nomination_attr(tmp, NOM_0030,
                                                  in->nomination_0030));
    pj_stun_msg_add_msgint_attr(tmp, msg);
    pj_stun_msg_add_uint_attr(tmp, msg, PJ_STUN_ATTR_FINGERPRINT, 0);

    key = pj_str((char*)to->pwd);
    status = pj_stun_msg_encode(msg, buf, sizeof(buf), 0, &key, &len);
    if (status != PJ_SUCCESS)
        die("encoding injected request", status);

    if (attrs == NOM_C001)
        pj_ansi_snprintf(what, sizeof(what), "NOMINATION=%u", in->nomination);
    else if (attrs == NOM_0030)
        pj_ansi_snprintf(what, sizeof(what), "NOMINATION(0x0030)=%u",
                         in->nomination_0030);
    else
        pj_ansi_snprintf(what, sizeof(what), "NOMINATION=%u and "
                         "NOMINATION(0x0030)=%u", in->nomination,
                         in->nomination_0030);
    PJ_LOG(3, (THIS_FILE, "t=%lu ms: controlling peer renominates from "
               "candidate %u with %s",
               (unsigned long)(now_ms - t0), in->from_cand, what));
    enqueue(&from->addr[in->from_cand * comp_cnt], &to->addr[0], buf, len);
    pj_pool_release(tmp);
}

/* ------------------------------------------------------------------ */
/* Result reporting                                                    */
/* ------------------------------------------------------------------ */

static const char *status_name(pj_status_t status)
{
    switch (status) {
    case PJ_SUCCESS:            return "none";
    case PJNATH_EICEFAILED:     return "EICEFAILED";
    case PJNATH_EICENOMTIMEOUT: return "EICENOMTIMEOUT";
    case PJNATH_ESTUNTIMEDOUT:  return "ESTUNTIMEDOUT";
    default:                    return "other";
    }
}

static void print_addr(char *buf, unsigned size, const pj_sockaddr *a)
{
    pj_sockaddr_print(a, buf, size, 3);
}

static void report(const scenario *sc, agent *a)
{
    char pair[256] = "none", media[64] = "none";
    const char *st;

    if (!a->done)
        st = "incomplete";
    else if (a->status == PJ_SUCCESS)
        st = "success";
    else
        st = "failed";

    if (a->ice && a->ice->comp[0].nominated_check) {
        unsigned k, len = 0;
        for (k = 0; k < comp_cnt && a->ice->comp[k].nominated_check; ++k) {
            const pj_ice_sess_check *c = a->ice->comp[k].nominated_check;
            char l[48], r[48];
            print_addr(l, sizeof(l), &c->lcand->addr);
            print_addr(r, sizeof(r), &c->rcand->addr);
            /* controlled agent's address first on both sides; components
             * separated by commas */
            len += pj_ansi_snprintf(pair + len, sizeof(pair) - len, "%s%s/%s",
                   k ? "," : "",
                   a->role == PJ_ICE_SESS_ROLE_CONTROLLED ? l : r,
                   a->role == PJ_ICE_SESS_ROLE_CONTROLLED ? r : l);
        }
    }
    if (a->media_sent)
        print_addr(media, sizeof(media), &a->media_to);

    printf("RESULT scenario=%s side=%s status=%s error=%s t_ms=%lu "
           "pair=%s media_to=%s\n",
           sc->name, a->name, st, a->done ? status_name(a->status) : "none",
           a->done ? (unsigned long)a->done_ms : 0UL, pair, media);
}

/* ------------------------------------------------------------------ */
/* Event loop                                                          */
/* ------------------------------------------------------------------ */

static FILE *log_file;

static void log_writer(int level, const char *data, int len)
{
    PJ_UNUSED_ARG(level);
    if (log_file)
        fwrite(data, 1, len, log_file);
}

static pj_uint64_t min_u64(pj_uint64_t a, pj_uint64_t b)
{
    return a < b ? a : b;
}

static void run(const scenario *sc)
{
    pj_bool_t peer_started = PJ_FALSE;
    pj_bool_t media_done = PJ_FALSE;
    unsigned next_inject = 0;
    pj_uint64_t last_event = 0;
    unsigned i;

    t0 = now_ms;
    if (sc->peer_start_ms != NEVER)
        last_event = sc->peer_start_ms;
    for (i = 0; i < sc->inject_cnt; ++i)
        last_event = PJ_MAX(last_event, sc->injects[i].at_ms);

    /* The controlled agent (Asterisk) has the caller's candidates from the
     * session-initiate and starts checking at once. */
    start_agent(&controlled_agent, &controlling_agent);

    for (;;) {
        pj_time_val tv;
        pj_uint64_t next = t0 + sc->end_ms;
        pj_uint64_t rel = now_ms - t0;

        if (!peer_started && sc->peer_start_ms != NEVER &&
            rel >= sc->peer_start_ms)
        {
            start_agent(&controlling_agent, &controlled_agent);
            peer_started = PJ_TRUE;
        }
        while (next_inject < sc->inject_cnt &&
               rel >= sc->injects[next_inject].at_ms)
        {
            inject_nomination(&sc->injects[next_inject++]);
        }

        /* Deliver every packet that is due, then every timer. */
        while (q_cnt && queue[q_head].at_ms <= now_ms) {
            packet *p = &queue[q_head];
            q_head = (q_head + 1) % MAX_QUEUE;
            --q_cnt;
            deliver(p);
        }
        pj_timer_heap_poll(timer_heap, NULL);
        if (q_cnt && queue[q_head].at_ms <= now_ms)
            continue;

        /* Done when every agent that ran has concluded, all scripted
         * events happened, and the network has been quiet for a while. */
        if (controlled_agent.done &&
            (sc->peer_start_ms == NEVER || controlling_agent.done) &&
            rel >= last_event + 2000)
        {
            if (!media_done) {
                /* Send one media packet each way: shows the pair that
                 * pj_ice_sess_send_data() (which Asterisk uses) picks. */
                char rtp[12] = { (char)0x80, 0 };
                for (i = 0; i < PJ_ARRAY_SIZE(agents); ++i) {
                    if (agents[i]->done && agents[i]->status == PJ_SUCCESS)
                        pj_ice_sess_send_data(agents[i]->ice, 1, rtp,
                                              sizeof(rtp));
                }
                media_done = PJ_TRUE;
                continue;
            }
            if (!q_cnt)
                break;
        }

        /* Jump the clock to the next thing that will happen. */
        if (q_cnt)
            next = min_u64(next, queue[q_head].at_ms);
        if (pj_timer_heap_count(timer_heap) &&
            pj_timer_heap_earliest_time(timer_heap, &tv) == PJ_SUCCESS)
        {
            pj_uint64_t t = (pj_uint64_t)tv.sec * 1000 + tv.msec;
            next = min_u64(next, t > now_ms ? t : now_ms + 1);
        }
        if (!peer_started && sc->peer_start_ms != NEVER)
            next = min_u64(next, t0 + sc->peer_start_ms);
        if (next_inject < sc->inject_cnt)
            next = min_u64(next, t0 + sc->injects[next_inject].at_ms);
        if (controlled_agent.done &&
            (sc->peer_start_ms == NEVER || controlling_agent.done))
            next = min_u64(next, t0 + last_event + 2000);

        if (now_ms >= t0 + sc->end_ms)
            break;
        now_ms = next > now_ms ? next : now_ms + 1;
    }

    report(sc, &controlled_agent);
    if (sc->peer_start_ms != NEVER)
        report(sc, &controlling_agent);
}

static void usage(void)
{
    unsigned i;
    fprintf(stderr, "usage: harness SCENARIO [--log FILE] [--log-level N]\n"
                    "scenarios:\n");
    for (i = 0; i < PJ_ARRAY_SIZE(scenarios); ++i)
        fprintf(stderr, "  %-16s %s\n", scenarios[i].name,
                scenarios[i].about);
}

int main(int argc, char *argv[])
{
    const scenario *sc = NULL;
    const char *log_path = NULL;
    int log_level = 5;
    pj_caching_pool cp;
    pj_stun_config stun_cfg;
    pj_status_t status;
    int i;

    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--list") == 0) {
            unsigned k;
            for (k = 0; k < PJ_ARRAY_SIZE(scenarios); ++k)
                printf("%s\n", scenarios[k].name);
            return 0;
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_path = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            log_level = atoi(argv[++i]);
        } else if (!sc) {
            unsigned k;
            for (k = 0; k < PJ_ARRAY_SIZE(scenarios); ++k) {
                if (strcmp(argv[i], scenarios[k].name) == 0)
                    sc = &scenarios[k];
            }
            if (!sc) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!sc) {
        usage();
        return 2;
    }

    if (log_path) {
        log_file = fopen(log_path, "w");
        if (!log_file) {
            perror(log_path);
            return 2;
        }
    }

    /* Log timestamps come from the virtual clock; keep them in UTC. */
    setenv("TZ", "UTC", 1);
    tzset();

    /* Before pj_init(): it logs too. */
    pj_log_set_log_func(&log_writer);
    pj_log_set_level(log_file ? log_level : 0);
    status = pj_init();
    if (status != PJ_SUCCESS)
        die("pj_init", status);
    /* pjlib's default line decoration: the lines look like any pjsua or
     * pjnath-test log. */
    pj_srand(20260101);     /* tie-breakers and transaction IDs */
    pjlib_util_init();
    pjnath_init();

    pj_caching_pool_init(&cp, NULL, 0);
    pool = pj_pool_create(&cp.factory, "harness", 4000, 4000, NULL);
    status = pj_timer_heap_create(pool, 256, &timer_heap);
    if (status != PJ_SUCCESS)
        die("pj_timer_heap_create", status);
    pj_stun_config_init(&stun_cfg, &cp.factory, 0, NULL, timer_heap);

    /* The controlled agent: one host candidate, like Asterisk's RTP port. */
    controlled_agent.name = "controlled";
    controlled_agent.role = PJ_ICE_SESS_ROLE_CONTROLLED;
    controlled_agent.ufrag = "AstU";
    controlled_agent.pwd = "asteriskpassword0123456789";
    controlled_agent.cand_cnt = 1;
    controlled_agent.cand_ip[0] = "127.0.0.1";
    controlled_agent.cand_port[0] = 4000;
    controlled_agent.cand_pref[0] = 65535;

    /* The controlling agent: A (preferred) and B (lower local preference),
     * so pair X-B has lower priority than X-A. */
    controlling_agent.name = "controlling";
    controlling_agent.role = PJ_ICE_SESS_ROLE_CONTROLLING;
    controlling_agent.ufrag = "JngU";
    controlling_agent.pwd = "jingleclientpassword0123456";
    controlling_agent.cand_cnt = 2;
    controlling_agent.cand_ip[0] = "127.0.0.2";
    controlling_agent.cand_port[0] = 5000;
    controlling_agent.cand_pref[0] = 65535;
    controlling_agent.cand_ip[1] = "127.0.0.3";
    controlling_agent.cand_port[1] = 5002;
    controlling_agent.cand_pref[1] = 30000;
    controlling_agent.rewrite_uc = sc->nomination_only;
    controlling_agent.rewrite_attr = sc->rewrite_attr ? sc->rewrite_attr
                                                      : NOM_C001;
    if (sc->comp_cnt)
        comp_cnt = sc->comp_cnt;
    controlling_agent.next_nomination = 1;

    create_agent(&controlled_agent, &stun_cfg);
    create_agent(&controlling_agent, &stun_cfg);
    if (sc->wait_peer_ms >= 0) {
#ifdef PJ_ICE_CONTROLLED_AGENT_WAIT_PEER_TIMEOUT
        pj_ice_sess_options opt;
        pj_ice_sess_get_options(controlled_agent.ice, &opt);
        opt.controlled_agent_wait_peer_timeout = sc->wait_peer_ms;
        pj_ice_sess_set_options(controlled_agent.ice, &opt);
#else
        /* Stock pjnath has no such wait: it fails at once anyway. */
#endif
    }
    if (!sc->aggressive) {
        pj_ice_sess_options opt;
        pj_ice_sess_get_options(controlling_agent.ice, &opt);
        opt.aggressive = PJ_FALSE;
        pj_ice_sess_set_options(controlling_agent.ice, &opt);
    }

    run(sc);

    pj_ice_sess_destroy(controlled_agent.ice);
    pj_ice_sess_destroy(controlling_agent.ice);
    pj_timer_heap_poll(timer_heap, NULL);
    if (log_file)
        fclose(log_file);
    fflush(stdout);
    return 0;
}
