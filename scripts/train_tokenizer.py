import sys

from bilingual.commands.train_tokenizer import main

sys.exit(main())
