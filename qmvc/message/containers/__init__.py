"""Files a mail client or a user would get out of a leaf's decoded content, one module a kind:

- `embedded`: uuencode and yEnc blocks inside a text body;
- `tnef`: the attachments of a TNEF body (winmail.dat);
- `archives`: the members of an archive, through libarchive;
- `records`: what they give back, and the limits that bound them.

Each is pure functions over bytes that never raise, imported only when its kind of content is
met (this package imports none of them), so delivering a plain message pays for one. Names are
returned as the container gives them; `names.py` normalises them.
"""
