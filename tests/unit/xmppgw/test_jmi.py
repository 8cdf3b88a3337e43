"""The XEP-0353 offer to a user's devices: every transition and its effects."""

from __future__ import annotations

from callctl.xmppgw import jmi
from callctl.xmppgw.jmi import OfferState

USER = "alice@example.org"
A, B = f"{USER}/phone", f"{USER}/laptop"


def offer() -> jmi.Offer:
    return jmi.Offer("sid1", USER)


def test_start_proposes_to_the_bare_jid() -> None:
    assert offer().start() == [jmi.Propose(USER)]


def test_first_ringing_device_rings_asterisk_once() -> None:
    o = offer()
    assert o.device_ringing(A) == [jmi.RingAsterisk()]
    assert o.device_ringing(B) == []
    assert o.device_ringing(A) == []
    assert o.state == OfferState.RINGING


def test_first_proceed_wins_a_later_one_is_retracted() -> None:
    o = offer()
    o.device_ringing(A)
    assert o.device_proceed(B) == [jmi.Connect(B)]
    assert o.device_proceed(A) == [jmi.Retract(A, "cancel")]
    assert o.device_proceed(B) == []  # a repeated proceed changes nothing
    assert (o.state, o.device) == (OfferState.ANSWERED, B)


def test_reject_ends_the_call_busy_or_declined() -> None:
    o = offer()
    assert o.device_reject("busy") == [jmi.EndAsterisk("busy")]
    assert o.state == OfferState.REJECTED
    assert o.device_proceed(A) == []  # too late
    assert offer().device_reject("decline") == [jmi.EndAsterisk("decline")]
    assert offer().device_reject("") == [jmi.EndAsterisk("decline")]


def test_caller_hangs_up_while_ringing_retracts_from_every_device() -> None:
    o = offer()
    o.device_ringing(A)
    assert o.asterisk_ended("cancel") == [jmi.Retract(USER, "cancel")]
    assert o.state == OfferState.RETRACTED
    assert o.device_proceed(A) == []


def test_an_answered_call_ends_with_finish_whoever_hangs_up() -> None:
    o = offer()
    o.device_proceed(A)
    assert o.asterisk_ended("success") == [jmi.Finish(USER, "success")]
    assert o.device_ended("success") == []
    o = offer()
    o.device_proceed(A)
    assert o.device_ended("") == [jmi.Finish(USER, "success")]
    assert o.asterisk_ended("success") == []


def test_reject_after_answer_is_ignored() -> None:
    o = offer()
    o.device_proceed(A)
    assert o.device_reject("busy") == []
    assert o.state == OfferState.ANSWERED


def test_a_direct_offer_connects_the_one_device_without_jmi() -> None:
    o = jmi.Offer("sid1", A, direct=True)
    assert o.start() == [jmi.Connect(A)]
    assert o.state == OfferState.ANSWERED
    assert o.asterisk_ended("success") == []  # no <finish/> to a client that never proposed
