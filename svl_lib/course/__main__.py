"""``python -m svl_lib.course``: execute the course's notebooks (:mod:`svl_lib.course.execute`)."""
from .execute import main

raise SystemExit(main())
