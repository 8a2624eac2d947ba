from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0003_repository_embedding_model"),
    ]

    operations = [
        migrations.AddField(
            model_name="repository",
            name="term_scheme",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
