"""`qmvc doctor`: the deployment a delivery will meet, checked before mail arrives.

`finding` is the one record every check returns; `user` is the delivering user and the
way to ask questions as that user; `access` holds those questions (may this user write
here, run that); `probes` talks to clamd and the SMTP injector; `checks` holds one
function per check, registered under the name its findings carry.
"""
