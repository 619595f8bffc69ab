"""The politician roster: who facegate knows, and the reference faces it knows them by.

``reference_faces/<slug>/profile.toml`` plus reference photos per politician. ``profiles`` reads and
writes that folder (``Profile``, ``Politician``, the slug and photo rules); ``names`` turns the text of a
cell or a form into a slug; ``references`` encodes the photos (through the face pool of ``app.faces``,
with an on-disk cache) into the ``ReferenceSet`` the verdict matches against; ``audit`` checks that
each politician's photos are one person and that every two politicians are apart.

Each politician's calibration (``facegate politicians calibrate``) lives here too: ``deepfakes`` makes
deepfakes of a face, ``bank`` and ``bank_people`` are the other people it is measured against (fetched,
never committed), ``analysis`` and ``trial`` measure through the service's own face engine,
``calibration`` chooses the rule, ``calibration_text`` and ``calibration_plot`` say and draw it.

``app.faces`` turns pixels into faces and knows no politician; this package may use it, not the other
way round. ``app.verification`` sits above both: it holds the loaded ``ReferenceSet`` and the face
pool, and decides images.
"""
