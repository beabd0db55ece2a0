// Code systems of the pathway. Codes are stable English tokens; displays and definitions are French.

RuleSet: OncoLinkCodeSystem
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* ^language = #fr-FR

CodeSystem: OncoLinkParcours
Id: oncolink-parcours
Title: "Parcours Onco'Link"
Description: "Niveau de forfait selon les restrictions de dispensation du médicament."
* insert OncoLinkCodeSystem
* #A "Parcours A" "Médicament dispensable en pharmacie d'officine."
* #B "Parcours B" "Médicament soumis à la réserve hospitalière : dispensation par la pharmacie à usage intérieur."

CodeSystem: OncoLinkSequence
Id: oncolink-sequence
Title: "Séquences d'un épisode Onco'Link"
Description: "Les trois séquences d'un épisode de dix mois, au fil desquelles l'équipe hospitalière passe le relais à la ville."
* insert OncoLinkCodeSystem
* #1 "Séquence 1 — initiation" "Un mois : primo-prescription hospitalière, éducation thérapeutique, primo-dispensation, surveillance initiale."
* #2 "Séquence 2 — suivi" "Trois mois, renouvelable : renouvellement, suivi de l'observance, des interactions et des effets indésirables, coordination ville-hôpital."
* #3 "Séquence 3 — suivi prolongé" "Six mois, renouvelable, seulement si le traitement le permet : même contenu que la séquence 2."

CodeSystem: OncoLinkAlertColour
Id: oncolink-alert-colour
Title: "Couleur d'alerte"
Description: "Résultat du tri d'un questionnaire hebdomadaire selon l'arbre de décision du centre."
* insert OncoLinkCodeSystem
* #green "Vert" "Aucun signe d'alerte : suivi habituel."
* #orange "Orange" "Signe d'alerte modéré : l'infirmière rappelle le patient."
* #red "Rouge" "Signe d'alerte grave : prise en charge prioritaire par l'équipe hospitalière."

CodeSystem: OncoLinkAlertType
Id: oncolink-alert-type
Title: "Types d'alerte"
Description: "Motifs d'alerte issus du questionnaire, du suivi des réponses ou des contrôles d'interaction."
* insert OncoLinkCodeSystem
* #diarrhoea "Diarrhée" "Diarrhée signalée par le patient."
* #nausea-vomiting "Nausées ou vomissements" "Nausées ou vomissements signalés par le patient."
* #mucositis "Mucite" "Atteinte de la muqueuse buccale (aphtes, douleurs, rougeurs)."
* #hand-foot "Syndrome main-pied" "Rougeurs, douleurs ou crevasses des paumes ou des plantes des pieds."
* #rash "Éruption cutanée" "Éruption ou boutons sur la peau."
* #fatigue "Fatigue" "Fatigue inhabituelle."
* #fever "Fièvre" "Température élevée ou frissons."
* #pain "Douleur" "Douleur nouvelle ou accrue."
* #dyspnoea "Essoufflement" "Essoufflement ou gêne respiratoire."
* #bleeding "Saignement" "Saignement du nez, des gencives, dans les urines ou les selles."
* #missed-doses "Prises oubliées" "Prises du traitement oubliées au cours de la semaine."
* #missing-questionnaire "Questionnaire non rempli" "Le questionnaire hebdomadaire n'a pas été reçu dans les délais."
* #interaction "Interaction médicamenteuse" "Association à risque avec un autre médicament actif (par exemple un inhibiteur de la pompe à protons)."

CodeSystem: OncoLinkActorShare
Id: oncolink-actor-share
Title: "Bénéficiaires des forfaits"
Description: "Acteurs entre lesquels chaque forfait est réparti."
* insert OncoLinkCodeSystem
* #hospital "Établissement de santé" "Part du forfait versée à l'établissement de l'équipe hospitalière."
* #community-pharmacist "Pharmacien d'officine" "Part du forfait versée à la pharmacie d'officine du patient."
* #gp "Médecin traitant" "Part du forfait versée au médecin traitant."
* #telemonitoring-operator "Opérateur de télésurveillance" "Forfait mensuel de l'opérateur de télésurveillance."

CodeSystem: OncoLinkForfait
Id: oncolink-forfait
Title: "Forfaits Onco'Link"
Description: "Nature des forfaits facturés dans le parcours."
* insert OncoLinkCodeSystem
* #sequence "Forfait de séquence" "Dû pour chaque séquence commencée, quelle qu'en soit la durée effective."
* #telemonitoring "Forfait de télésurveillance" "Dû par mois de télésurveillance, au plus six mois consécutifs par prescription."

CodeSystem: OncoLinkGrade
Id: oncolink-grade
Title: "Intensité d'un symptôme"
Description: "Échelle en cinq niveaux utilisée par le questionnaire hebdomadaire."
* insert OncoLinkCodeSystem
* #0 "Absent" "Le symptôme n'est pas présent."
* #1 "Léger" "Gêne légère, sans retentissement sur les activités quotidiennes."
* #2 "Modéré" "Gêne qui limite certaines activités quotidiennes."
* #3 "Sévère" "Gêne importante qui empêche les activités quotidiennes."
* #4 "Très sévère" "Symptôme intolérable ou qui inquiète fortement le patient."

CodeSystem: OncoLinkMissedDoses
Id: oncolink-missed-doses
Title: "Prises oubliées dans la semaine"
Description: "Nombre de prises du traitement oubliées depuis le dernier questionnaire."
* insert OncoLinkCodeSystem
* #0 "Aucune prise oubliée" "Toutes les prises ont été faites."
* #1 "Une prise oubliée" "Une seule prise a été oubliée."
* #2 "Deux ou trois prises oubliées" "Deux ou trois prises ont été oubliées."
* #3 "Plus de trois prises oubliées" "Plus de trois prises ont été oubliées."

CodeSystem: OncoLinkCarePlanCategory
Id: oncolink-careplan-category
Title: "Catégories de plan de soins Onco'Link"
Description: "Distingue l'épisode de dix mois de chacune de ses séquences."
* insert OncoLinkCodeSystem
* #episode "Épisode Onco'Link" "Plan de soins couvrant l'épisode complet d'un patient."
* #sequence "Séquence Onco'Link" "Plan de soins d'une séquence de l'épisode."

CodeSystem: OncoLinkCareTeamRole
Id: oncolink-care-team-role
Title: "Rôles dans l'équipe de soins"
Description: "Rôle de chaque membre de l'équipe de soins d'un épisode."
* insert OncoLinkCodeSystem
* #hospital-team "Équipe hospitalière" "Service hospitalier qui a initié le traitement (oncologue, infirmière de coordination, pharmacien hospitalier)."
* #community-pharmacy "Pharmacie d'officine" "Officine choisie par le patient."
* #gp "Médecin traitant" "Médecin traitant déclaré du patient."
* #idec "Infirmière de coordination" "Infirmière de coordination hospitalière (IDEC)."
* #idel "Infirmière libérale" "Infirmière libérale (IDEL) qui intervient au domicile."

CodeSystem: OncoLinkTaskType
Id: oncolink-task-type
Title: "Types de tâche Onco'Link"
Description: "Tâches proposées aux infirmières sur la liste de travail."
* insert OncoLinkCodeSystem
* #alert-handling "Traiter une alerte" "Rappeler le patient et appliquer l'arbre de décision du centre."
* #inclusion-proposal "Inclusion à proposer" "Une prescription éligible a été reçue pour un patient qui n'est pas encore inclus."

CodeSystem: OncoLinkMessageCategory
Id: oncolink-message-category
Title: "Catégories de message Onco'Link"
Description: "Nature des messages adressés au patient ou aux professionnels."
* insert OncoLinkCodeSystem
* #patient-alert-message "Conseil au patient après alerte" "Message envoyé au patient selon le type d'alerte."
* #coordination "Coordination ville-hôpital" "Message adressé au pharmacien d'officine ou au médecin traitant."

CodeSystem: OncoLinkIdentityStatus
Id: oncolink-identity-status
Title: "Statut de l'identité du patient"
Description: "Niveau de confiance de l'identité selon le référentiel national d'identitovigilance."
* insert OncoLinkCodeSystem
* #PROV "Identité provisoire" "Identité saisie sans pièce justificative ni appel au téléservice INSi."
* #RECUP "Identité récupérée" "INS récupéré par le téléservice INSi, sans vérification d'une pièce d'identité."
* #VALI "Identité validée" "Identité vérifiée sur une pièce d'identité à haut niveau de confiance, sans INS qualifié."
* #QUAL "Identité qualifiée" "Identité validée dont l'INS a été récupéré ou vérifié par le téléservice INSi."
