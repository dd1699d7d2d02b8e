from callrec.cli import main

raise SystemExit(main())
