"""Every word of the desk in Spanish and English, and which of the two a request gets:
the user's setting, else the browser's Accept-Language, else the desk's default."""

from __future__ import annotations

LANGUAGES = ("es", "en")

WORDS: dict[str, dict[str, str]] = {
    "review": {"es": "Revisión", "en": "Review"},
    "report": {"es": "Informe", "en": "Report"},
    "quarantine": {"es": "Cuarentena", "en": "Quarantine"},
    "outbox": {"es": "Correo saliente", "en": "Outbox"},
    "models": {"es": "Modelos", "en": "Models"},
    "account": {"es": "Mi cuenta", "en": "My account"},
    "logout": {"es": "Salir", "en": "Log out"},
    "login": {"es": "Entrar", "en": "Log in"},
    "username": {"es": "Usuario", "en": "User name"},
    "password": {"es": "Contraseña", "en": "Password"},
    "bad_login": {"es": "Usuario o contraseña incorrectos.", "en": "Wrong user name or password."},
    "too_many": {"es": "Demasiados intentos fallidos. Espere unos minutos e inténtelo de nuevo.",
                 "en": "Too many failed attempts. Wait a few minutes and try again."},
    "desk": {"es": "Mesa de revisión", "en": "Review desk"},
    "nothing": {"es": "No queda nada por revisar.", "en": "Nothing left to review."},
    "low_confidence": {"es": "Poca confianza", "en": "Low confidence"},
    "audit": {"es": "Muestra de auditoría", "en": "Audit sample"},
    # why the model asked for a person, shown under its confidence (predictions.review_reason)
    "why_unfamiliar": {"es": "No se parece a lo que aprendió", "en": "Unlike the mail it learned from"},
    "why_low_confidence": {"es": "No está seguro", "en": "Not sure"},
    "why_no_threshold": {"es": "Aún no acierta lo bastante en esto",
                         "en": "Not yet reliable enough on this"},
    "why_disagreement": {"es": "Sus dos modelos no coinciden", "en": "Its two models disagree"},
    "why_other": {"es": "Pide que lo revise una persona", "en": "Asks a person to check"},
    "from": {"es": "De", "en": "From"},
    "subject": {"es": "Asunto", "en": "Subject"},
    "received": {"es": "Recibido", "en": "Received"},
    "attachments": {"es": "Adjuntos", "en": "Attachments"},
    "none": {"es": "ninguno", "en": "none"},
    "prediction": {"es": "Predicción", "en": "Prediction"},
    "confidence": {"es": "Confianza", "en": "Confidence"},
    "your_label": {"es": "Etiqueta correcta", "en": "Correct label"},
    "person_said": {"es": "Una persona dijo", "en": "A person said"},
    "note": {"es": "Nota (opcional)", "en": "Note (optional)"},
    "save": {"es": "Guardar", "en": "Save"},
    "accept": {"es": "Aceptar todo", "en": "Accept all"},
    "skip": {"es": "Saltar", "en": "Skip"},
    "next_up": {"es": "A continuación", "en": "Next up"},
    "keys": {"es": "Teclado: a acepta todo · t, p, c eligen tipo, prioridad o cola (flechas para "
                   "cambiar) · n nota · Intro guarda · s salta",
             "en": "Keyboard: a accepts all · t, p, c pick type, priority or queue (arrows to "
                   "change) · n note · Enter saves · s skips"},
    "saved": {"es": "Guardado", "en": "Saved"},
    "rerouted": {"es": "reenviado a", "en": "re-routed to"},
    "week": {"es": "Semana", "en": "Week"},
    "mailbox": {"es": "Buzón", "en": "Mailbox"},
    "model": {"es": "Versión del modelo", "en": "Model version"},
    "all": {"es": "todas", "en": "all"},  # weeks, model versions, outgoing mails
    "all_m": {"es": "todos", "en": "all"},  # mailboxes
    "filter": {"es": "Filtrar", "en": "Filter"},
    "download": {"es": "Descargar CSV", "en": "Download CSV"},
    "predictions": {"es": "Predicciones", "en": "Predictions"},
    "labelled": {"es": "Revisadas por personas", "en": "Checked by people"},
    "misclassified": {"es": "Mal clasificadas", "en": "Misclassified"},
    "rate": {"es": "Tasa de error", "en": "Error rate"},
    "audit_rate": {"es": "Error estimado por auditoría (IC 95 %)",
                   "en": "Error estimated by audit (95 % CI)"},
    "by_class": {"es": "Por clase", "en": "By class"},
    "class": {"es": "Clase", "en": "Class"},
    "precision": {"es": "Precisión", "en": "Precision"},
    "recall": {"es": "Exhaustividad", "en": "Recall"},
    "confused": {"es": "Confusiones más frecuentes", "en": "Most frequent confusions"},
    "truth": {"es": "Etiqueta humana", "en": "Human label"},
    "count": {"es": "Casos", "en": "Cases"},
    "messages": {"es": "Mensajes", "en": "Messages"},
    "coverage": {"es": "Enrutados sin revisión", "en": "Routed without review"},
    "updating": {"es": "Leyendo los datos nuevos; estas cifras son de las",
                 "en": "Reading the new data; these figures are from"},
    "no_data": {"es": "Aún no hay predicciones.", "en": "No predictions yet."},
    "id": {"es": "Id", "en": "Id"},
    "stage": {"es": "Etapa", "en": "Stage"},
    "reason": {"es": "Motivo", "en": "Reason"},
    "size": {"es": "Tamaño", "en": "Size"},
    "attempts": {"es": "Intentos", "en": "Attempts"},
    "retry": {"es": "Reintentar", "en": "Retry"},
    "retry_all": {"es": "Reintentar todos los fallidos", "en": "Retry all failed"},
    "show": {"es": "Ver", "en": "Show"},
    "raw": {"es": "Mensaje original", "en": "Original message"},
    "empty": {"es": "Vacío.", "en": "Empty."},
    "state": {"es": "Estado", "en": "State"},
    "kind": {"es": "Tipo de correo", "en": "Kind"},
    "recipients": {"es": "Destinatarios", "en": "Recipients"},
    "created": {"es": "Creado", "en": "Created"},
    "last_error": {"es": "Último error", "en": "Last error"},
    "version": {"es": "Versión", "en": "Version"},
    "rows": {"es": "Filas de entrenamiento", "en": "Training rows"},
    "current": {"es": "en servicio", "en": "in service"},
    "promote": {"es": "Poner en servicio", "en": "Put in service"},
    "rollback": {"es": "Volver a la anterior", "en": "Roll back"},
    "history": {"es": "Historial", "en": "History"},
    "action": {"es": "Acción", "en": "Action"},
    "previous": {"es": "Anterior", "en": "Previous"},
    "author": {"es": "Autor", "en": "Author"},
    "when": {"es": "Cuándo", "en": "When"},
    "language": {"es": "Idioma", "en": "Language"},
    "browser": {"es": "el del navegador", "en": "the browser's"},
    "change_password": {"es": "Cambiar la contraseña", "en": "Change password"},
    "current_password": {"es": "Contraseña actual", "en": "Current password"},
    "new_password": {"es": "Contraseña nueva", "en": "New password"},
    "repeat_password": {"es": "Repítala", "en": "Repeat it"},
    "password_changed": {"es": "Contraseña cambiada; sus otras sesiones se han cerrado.",
                         "en": "Password changed; your other sessions have ended."},
    "passwords_differ": {"es": "Las contraseñas nuevas no coinciden.",
                         "en": "The new passwords differ."},
    "wrong_password": {"es": "La contraseña actual no es correcta.",
                       "en": "The current password is wrong."},
    "admin_only": {"es": "Solo un administrador puede hacer esto.", "en": "Only an admin may do this."},
    "forbidden": {"es": "Prohibido", "en": "Forbidden"},
    "not_found": {"es": "No encontrado", "en": "Not found"},
    "bad_request": {"es": "Petición incorrecta", "en": "Bad request"},
    "queued": {"es": "en cola", "en": "queued"},
    "sent": {"es": "enviado", "en": "sent"},
    "failed": {"es": "fallido", "en": "failed"},
    "retried": {"es": "Reintentados", "en": "Retried"},
    "message": {"es": "Mensaje", "en": "Message"},
    "retried_ok": {"es": "procesado de nuevo y registrado.", "en": "processed again and registered."},
    "retried_again": {"es": "ha vuelto a cuarentena; vea el motivo.",
                      "en": "is back in quarantine; see the reason."},
    "signed_in_as": {"es": "Sesión de", "en": "Signed in as"},
    # outbox kinds
    "kind_ack": {"es": "acuse de recibo", "en": "acknowledgement"},
    "kind_followup": {"es": "aviso de seguimiento", "en": "follow-up note"},
    "kind_route": {"es": "envío al equipo", "en": "to the team"},
    "kind_triage": {"es": "a triaje", "en": "to triage"},
    "kind_forward": {"es": "reenvío al equipo", "en": "forward to the team"},
    "kind_correction": {"es": "respuesta a una corrección", "en": "answer to a correction"},
    "kind_report": {"es": "informe", "en": "report"},
    # report tables (CSV downloads)
    "table_summary": {"es": "resumen", "en": "summary"},
    "table_by_class": {"es": "por clase", "en": "by class"},
    "table_by_week": {"es": "por semana", "en": "by week"},
    "table_by_model": {"es": "por modelo", "en": "by model"},
    "table_by_mailbox": {"es": "por buzón", "en": "by mailbox"},
    "table_curve": {"es": "curva de umbral", "en": "threshold curve"},
    "table_confused_pairs": {"es": "confusiones", "en": "confusions"},
    "table_confusion_type": {"es": "matriz de tipo", "en": "type matrix"},
    "table_confusion_priority": {"es": "matriz de prioridad", "en": "priority matrix"},
    "table_confusion_queue": {"es": "matriz de cola", "en": "queue matrix"},
}

# confidence in words: the lowest bound it reaches
CONFIDENCE = ((0.9, {"es": "muy segura", "en": "very sure"}),
              (0.75, {"es": "bastante segura", "en": "fairly sure"}),
              (0.5, {"es": "dudosa", "en": "unsure"}),
              (0.0, {"es": "muy dudosa", "en": "guessing"}))


def word(key: str, language: str, default: str | None = None) -> str:
    """The word for `key`; an unknown key shows `default` (a site's own outbox kind, say),
    else the key itself."""
    found = WORDS.get(key)
    if found is None:
        return key if default is None else default
    return found.get(language, found["en"])


def confidence(value: float, language: str) -> str:
    for bound, names in CONFIDENCE:
        if value >= bound:
            return names[language]
    return CONFIDENCE[-1][1][language]


def choose(setting: str | None, accept_language: str | None, default: str) -> str:
    """The user's setting, else the first supported language the browser prefers."""
    if setting in LANGUAGES:
        return setting
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _, _, tag in sorted(ranked):
        if tag in LANGUAGES:
            return tag
    return default if default in LANGUAGES else "es"
