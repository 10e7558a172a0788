"""``grader serve``: a live LTI 1.3 tool that grades each upload in seconds and posts the score back.

One module per responsibility (nothing here imports upward; ``app`` is the only module that sees them all):

    config      the service's settings (serve.toml, command line, the demo's)
    storage     the database: submissions, gradings (the job table), events, users, courses, links
    jobs        a grading's life in the job table: claim with a lease, heartbeat, finish once, re-queue
    engines     how a worker hears of a job: the job table itself (embedded) or Celery on Redis
    worker      a grading process: claims jobs, grades them with the kit's Session, records the result
    supervisor  the worker processes ``grader serve`` starts, restarts, and whose jobs it re-queues
    uploads     an upload's name and bytes, checked before anything is stored
    keys        the tool's RSA key (JWKS) and the session secret, created once, never printed
    launch      LTI 1.3: OIDC login initiation, the id_token checked against the platform's JWKS
    passback    scores to the LMS through AGS (grader.lms.lti), and the NRPS roster
    feedback    what a student may see of a result under the assignment's feedback policy
    texts       the students' pages in their language (messages/en.toml, ko.toml)
    views       the pages' data: a link's results as score rows, one student's submissions
    web         the HTTP layer: sessions, CSRF, roles, rate limit, security headers
    app         routes (pages, LTI, the script API) and the service's lifetime
    demo        ``--demo``: a course with every installed assignment and printed tokens
    main        ``grader serve`` itself: the web server, or only workers

Needs the ``serve`` extra (``pip install '.[serve]'``); the rest of the kit never imports this package.
"""
