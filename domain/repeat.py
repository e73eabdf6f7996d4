"""Repeat petitions (重复信访): the same petitioner on the same matter. Pure, no I/O.

Two questions, answered apart:

- **The same petitioner.** :func:`petitioner_keys` gives the texts a keyed hash is
  made of (``security/index.py`` hashes them with the index key; the store never
  holds them in plain text): ``id:`` and the normalised ID number when there is one,
  and always ``pn:`` with the normalised phone and name. A case with an ID number is
  looked up by its ID, and by phone and name among earlier cases that gave no ID; a
  case without one by phone and name among all (:func:`lookups`,
  :func:`same_petitioner`).
- **The same matter** (:func:`matter_score`): the same classification, places of
  which one contains the other (the same place, or one given more precisely), and
  requests alike by the Jaccard index of their character bigrams (Chinese text has
  no spaces to split words at). At or above :data:`CERTAIN` the match is certain;
  at or above :data:`POSSIBLE` it is a suggestion for the registrar; below, no match.
  A certain score between places that are not the same (one given only to the county)
  is a suggestion, not certain.

What a match does depends on the earlier case's status (:func:`candidate_status`),
folded from its events: open and within its deadlines (Art 19(3): 不予受理), final
after re-review (不再受理), or anything else (closed otherwise, or overdue: a new
petition about it is legitimate, so it is neither refused nor suggested).
"""

from __future__ import annotations

import re
import unicodedata

from .intake import Intake
from .state import CaseState, Stage
from .values import Candidate, CandidateStatus, Certainty, Jurisdiction

# Thresholds on the request's bigram Jaccard index (README, "Repeat petitions").
CERTAIN = 0.8
POSSIBLE = 0.4
# How many earlier cases of the same petitioner are looked at, newest first.
MAX_CANDIDATES = 50

_DOTS = re.compile(r"[\s·•・‧.\-_]")
# Whitespace and punctuation do not make a request different; digits and letters do.
_NOISE = re.compile(r"[\s\W_]", re.UNICODE)


def normalise_id_number(value: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", value)).upper()


def normalise_phone(value: str) -> str:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) in (11, 10, 12):
            digits = digits[len(prefix) :]
            break
    return digits


def normalise_name(value: str) -> str:
    """NFKC, case-folded, without spaces and the dots between the parts of a name
    (买买提·托合提, 买买提托合提 and 买买提 托合提 are one name)."""
    return _DOTS.sub("", unicodedata.normalize("NFKC", value)).casefold()


def petitioner_keys(intake: Intake) -> dict[str, str]:
    """The case's index entries, kind -> the text to hash: with an ID number, ``id`` and
    ``phone_name_id``; without, ``phone_name``. Never log or store these texts."""
    p = intake.petitioner
    phone_name = f"pn:{normalise_phone(p.phone)}|{normalise_name(p.name)}"
    if p.id_number:
        return {"id": f"id:{normalise_id_number(p.id_number)}", "phone_name_id": phone_name}
    return {"phone_name": phone_name}


def lookups(intake: Intake) -> list[tuple[str, tuple[str, ...]]]:
    """What a new case is looked up by: (text to hash, the kinds of entry it may match).

    With an ID number: the ID, and phone and name among the cases that gave no ID (a
    case with another ID number is another person). Without: phone and name among all.
    """
    keys = petitioner_keys(intake)
    if "id" in keys:
        return [(keys["id"], ("id",)), (keys["phone_name_id"], ("phone_name",))]
    return [(keys["phone_name"], ("phone_name", "phone_name_id"))]


def same_petitioner(new: Intake, earlier: Intake) -> bool:
    """The check behind the index: by ID number when both gave one, else by phone and
    name (an index hit on phone and name between two different ID numbers is two people)."""
    a, b = new.petitioner, earlier.petitioner
    if a.id_number and b.id_number:
        return normalise_id_number(a.id_number) == normalise_id_number(b.id_number)
    return (normalise_phone(a.phone), normalise_name(a.name)) == (
        normalise_phone(b.phone),
        normalise_name(b.name),
    )


def normalise_text(value: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", value)).casefold()


def bigrams(value: str) -> frozenset[str]:
    text = normalise_text(value)
    if len(text) < 2:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def jaccard(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


def places_related(a: Jurisdiction, b: Jurisdiction) -> bool:
    return a.contains(b) or b.contains(a)


def matter_score(new: Intake, earlier: Intake) -> tuple[float, Certainty | None]:
    """The request's similarity and how sure the match is (None: not the same matter)."""
    if new.classification != earlier.classification:
        return 0.0, None
    if not places_related(new.jurisdiction, earlier.jurisdiction):
        return 0.0, None
    score = round(jaccard(new.request, earlier.request), 3)
    if score >= CERTAIN and new.jurisdiction == earlier.jurisdiction:
        return score, Certainty.CERTAIN
    if score >= POSSIBLE:
        return score, Certainty.POSSIBLE
    return score, None


def candidate_status(state: CaseState) -> CandidateStatus:
    # A re-review decided and replied is final (Art 36) even while its delivery is
    # still to be recorded (the case closes as final on delivery).
    re_review_replied = state.review_level == 2 and state.stage is Stage.REVIEW_REPLIED
    if state.final or re_review_replied:
        return CandidateStatus.FINAL
    if state.stage is Stage.CLOSED or state.stage is Stage.NEW or state.overdue:
        return CandidateStatus.OTHER
    return CandidateStatus.OPEN


def screen(new: Intake, earlier: list[tuple[str, CaseState]]) -> list[Candidate]:
    """Earlier cases (id, folded state) that may be the same matter, best first: certain
    before possible, then by score. Cases of status OTHER are left out."""
    found = []
    for case_id, state in earlier:
        if state.intake is None or not same_petitioner(new, state.intake):
            continue
        status = candidate_status(state)
        if status is CandidateStatus.OTHER:
            continue
        score, certainty = matter_score(new, state.intake)
        if certainty is None:
            continue
        found.append(Candidate(case_id=case_id, score=score, status=status, certainty=certainty))
    found.sort(key=lambda c: (c.certainty is not Certainty.CERTAIN, -c.score, c.case_id))
    return found
