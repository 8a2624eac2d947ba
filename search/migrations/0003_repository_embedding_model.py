from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0002_git_remotes"),
    ]

    operations = [
        migrations.AddField(
            model_name="repository",
            name="embedding_model",
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
