from deepseek_free_api.cli import main

raise SystemExit(main())
