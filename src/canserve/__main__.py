from canserve.cli import main

main()
