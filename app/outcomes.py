"""What facegate can conclude about an upload and what it can do about it: one enum per kind.

Every layer speaks these: the verdict rule, the moderation loop, the decision log, the metrics, the
API's filters and responses. A new outcome is added here, once.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Action", "Decision", "HoldReason", "Reason", "Source"]


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    # Neither: a moderator settles it in NocoDB (Status ``approved`` or ``rejected``).
    REVIEW = "review"


class Source(StrEnum):
    """Who decided: facegate's rule, or a moderator in NocoDB (whose decision is final)."""

    FACEGATE = "facegate"
    MODERATOR = "moderator"


class Reason(StrEnum):
    """Why a picture or a row got its decision."""

    # One face, and it is the politician named (or, without a name, one of them).
    MATCH = "match"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    NO_MATCH = "no_match"
    # Not a decodable image, or not obtainable as one.
    UNREADABLE_IMAGE = "unreadable_image"
    # The face workers hung past their timeout, or crashed, on the picture, try after try.
    ANALYSIS_FAILED = "analysis_failed"
    # A NocoDB row without any attachment.
    NO_IMAGE = "no_image"
    # An attachment the row's own submission did not upload (``app.erasure.provenance``): never
    # fetched, published or erased.
    FOREIGN_ATTACHMENT = "foreign_attachment"
    # More images, or more pixels in all, than one row may have (``FACEGATE_MAX_IMAGES_PER_ROW``).
    TOO_MANY_IMAGES = "too_many_images"
    # The row names a politician facegate does not know.
    UNKNOWN_POLITICIAN = "unknown_politician"
    # The row disappeared (a moderator, or the uploader) before facegate decided it.
    ROW_GONE = "row_gone"
    # The row's consent checkbox (``FACEGATE_NOCODB_CONSENT_FIELD``) is not ticked.
    NO_CONSENT = "no_consent"
    # The face's distance is within ``FACEGATE_REVIEW_BAND`` of the tolerance: too close to call.
    NEAR_TOLERANCE = "near_tolerance"
    # The nudity detector found a label of ``FACEGATE_EXPLICIT_LABELS`` (review: an uncertain score).
    EXPLICIT_CONTENT = "explicit_content"
    # A moderator set the row's Status in NocoDB.
    MODERATOR = "moderator"


class HoldReason(StrEnum):
    """Why a row waits undecided and untouched: a problem of facegate's set-up or the operator's
    choice, never the uploader's doing. Held rows are decided again once it is fixed."""

    # Created before facegate was attached, and the operator has not confirmed the backlog yet.
    BACKLOG = "backlog"
    # A select option the form offers names no politician of ``reference_faces/`` (yet).
    UNKNOWN_OPTION = "unknown_option"
    # A text politician column: the name typed names no politician (a politician not added yet, or
    # a typo; a text form offers any name, so facegate cannot tell which).
    UNKNOWN_NAME = "unknown_name"
    # The reference folder could not be loaded, or holds no politician.
    REFERENCES_NOT_LOADED = "references_not_loaded"
    REFERENCES_EMPTY = "references_empty"
    # A configured column (image, politician, consent) is not in the row NocoDB returned.
    COLUMN_MISSING = "column_missing"
    # A configured column holds cells its type never has (an image cell that is no attachment list, a
    # consent cell that is no checkbox's): its type was changed, or the setting names another column.
    COLUMN_TYPE = "column_type"
    # Neither NocoDB's uploads folder nor its bucket is configured: no upload can be proved the row's.
    STORAGE_NOT_CONFIGURED = "storage_not_configured"


class Action(StrEnum):
    """What facegate did to a decided row in NocoDB."""

    APPROVED = "approved"
    DELETED = "deleted"
    FLAGGED = "flagged"
    # Status ``review`` written: the row waits for a moderator, off the carousel.
    REVIEW = "review"
    # The row was deleted, or its Id reused by another upload, before facegate acted.
    ALREADY_GONE = "already_gone"
    # Nothing written: ``FACEGATE_ACTION=dry-run`` (``RejectAction.DRY_RUN``) only logs decisions.
    NOTHING = "none (dry-run)"

    @property
    def row_left(self) -> bool:
        """Whether the row is no longer in NocoDB after this action."""
        return self in (Action.DELETED, Action.ALREADY_GONE)
