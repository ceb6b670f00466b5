"""``python -m src fit --config ...`` runs the LightningCLI."""

from src.cli import main

if __name__ == "__main__":
    main()
